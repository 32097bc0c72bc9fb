#define _GNU_SOURCE
#include "bt_watch.h"

#include <time.h>
#include <unistd.h>

#include "bt_clock.h"
#include "bt_notify.h"
#include "bt_pid.h"

#ifdef __linux__
#include <poll.h>
#include <sys/inotify.h>
/* A holder's close may end its lock; the other events mean the path may name another file. */
#define WATCH_EVENTS (IN_CLOSE_WRITE | IN_CLOSE_NOWRITE | IN_ATTRIB | IN_DELETE_SELF | \
                      IN_MOVE_SELF | IN_DONT_FOLLOW)
#define REPLACE_EVENTS (IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)
#endif

void bt_watch_init(bt_watch *w, int *wds, int n) {
    w->fd = -1;
    w->n = n;
    w->wd = wds;
    for (int i = 0; i < n; i++)
        wds[i] = -1;
}

void bt_watch_stop(bt_watch *w) {
#ifdef __linux__
    if (w->fd < 0)
        return;
    int mine = w->owner == bt_pid();
    for (int i = 0; i < w->n; i++) {
        if (w->wd[i] >= 0 && mine)
            inotify_rm_watch(w->fd, w->wd[i]);
        w->wd[i] = -1;
    }
    if (mine)
        bt_notify_give(w->fd);
    else
        close(w->fd); /* a forked child's copy: the parent still waits on the instance */
    w->fd = -1;
#else
    (void)w;
#endif
}

#ifdef __linux__
/* Point watch i at the file now at its path (a missing file gets none). */
static void rewatch(bt_watch *w, int i, const char *path) {
    if (w->wd[i] >= 0)
        inotify_rm_watch(w->fd, w->wd[i]);
    w->wd[i] = inotify_add_watch(w->fd, path, WATCH_EVENTS);
}

/* Read every queued event, re-aiming the watches of files that were replaced. */
static void drain(bt_watch *w, const char *const *paths) {
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t got;
    while ((got = read(w->fd, buf, sizeof buf)) > 0) {
        for (char *p = buf; p < buf + got;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            for (int i = 0; (ev->mask & REPLACE_EVENTS) && i < w->n; i++)
                if (w->wd[i] == ev->wd)
                    rewatch(w, i, paths[i]);
            p += sizeof *ev + ev->len;
        }
    }
}
#endif

int bt_watch_wait(bt_watch *w, const char *const *paths, double seconds) {
#ifdef __linux__
    if (w->fd >= 0 && w->owner != bt_pid())
        bt_watch_stop(w); /* inherited through fork(): set our own watches */
    if (w->fd < 0) {
        w->fd = bt_notify_take();
        w->owner = bt_pid();
        if (w->fd >= 0) {
            for (int i = 0; i < w->n; i++)
                rewatch(w, i, paths[i]);
            return 0;
        }
    }
    if (w->fd >= 0) {
        if (!(seconds > 0))
            seconds = 0;
        if (seconds > 1e6)
            seconds = 1e6;
        struct timespec ts;
        ts.tv_sec = (time_t)seconds;
        ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
        struct pollfd pfd = {w->fd, POLLIN, 0};
        if (ppoll(&pfd, 1, &ts, NULL) <= 0)
            return 0;
        drain(w, paths);
        return 1;
    }
#else
    (void)paths;
#endif
    bt_sleep(seconds);
    return 0;
}
