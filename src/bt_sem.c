#define _GNU_SOURCE
#include "bt_sem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bt_clock.h"
#include "bt_flock.h"

#ifdef __linux__
#include <poll.h>
#include <sys/inotify.h>
/* A holder's close ends its lock; the other events mean the path may name another file. */
#define WATCH_EVENTS (IN_CLOSE_WRITE | IN_CLOSE_NOWRITE | IN_ATTRIB | IN_DELETE_SELF | \
                      IN_MOVE_SELF | IN_DONT_FOLLOW)
#define REPLACE_EVENTS (IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)
#endif

struct bt_sem {
    int n;
    int held;       /* index of the slot we hold, or -1 */
    int notify_fd;  /* one inotify instance watching every slot file while we wait; -1 */
    int *watch;     /* the watch on each slot file, -1 when none */
    char **paths;   /* slot file names: path.1 .. path.n */
    bt_flock slot[];
};

bt_sem *bt_sem_new(const char *path, int n, mode_t mode, int make_parents) {
    if (n < 1 || n > BT_SEM_MAX)
        return NULL;
    bt_sem *s = calloc(1, sizeof *s + (size_t)n * sizeof s->slot[0]);
    if (!s)
        return NULL;
    s->n = n;
    s->held = -1;
    s->notify_fd = -1;
    for (int i = 0; i < n; i++)
        bt_flock_init(&s->slot[i], 0, mode, make_parents);
    s->watch = malloc((size_t)n * sizeof *s->watch);
    s->paths = calloc((size_t)n, sizeof *s->paths);
    if (!s->watch || !s->paths)
        goto fail;
    size_t len = strlen(path) + 16;
    for (int i = 0; i < n; i++) {
        s->watch[i] = -1;
        s->paths[i] = malloc(len);
        if (!s->paths[i])
            goto fail;
        snprintf(s->paths[i], len, "%s.%d", path, i + 1);
    }
    return s;
fail:
    bt_sem_free(s);
    return NULL;
}

static void unwatch(bt_sem *s) {
#ifdef __linux__
    if (s->notify_fd >= 0)
        close(s->notify_fd);
    s->notify_fd = -1;
    for (int i = 0; s->watch && i < s->n; i++)
        s->watch[i] = -1;
#else
    (void)s;
#endif
}

int bt_sem_try(bt_sem *s, bt_err *err, const char **failed) {
    if (s->held >= 0 && bt_flock_held(&s->slot[s->held]))
        return BT_OK;
    s->held = -1;
    for (int i = 0; i < s->n; i++) {
        int r = bt_flock_try(&s->slot[i], s->paths[i], err);
        if (r == BT_BUSY)
            continue;
        if (r == BT_FAIL) {
            *failed = s->paths[i];
            bt_sem_release(s);
            return BT_FAIL;
        }
        /* Ours: let go of the other slot files (a waiter that sees them close just tries
         * once more) and of the watches. */
        s->held = i;
        for (int j = 0; j < s->n; j++)
            if (j != i)
                bt_flock_release(&s->slot[j]);
        unwatch(s);
        return BT_OK;
    }
    return BT_BUSY;
}

#ifdef __linux__
/* Point slot i's watch at the file now at its path; without one the waiter still wakes on
 * the others and on its timeouts. */
static void rewatch(bt_sem *s, int i) {
    if (s->watch[i] >= 0)
        inotify_rm_watch(s->notify_fd, s->watch[i]);
    s->watch[i] = inotify_add_watch(s->notify_fd, s->paths[i], WATCH_EVENTS);
}

static int arm(bt_sem *s) {
    s->notify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (s->notify_fd < 0)
        return 0;
    for (int i = 0; i < s->n; i++)
        rewatch(s, i);
    return 1;
}

/* Read every queued event; re-aim the watches of slot files that were replaced. */
static void drain(bt_sem *s) {
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t got;
    while ((got = read(s->notify_fd, buf, sizeof buf)) > 0) {
        for (char *p = buf; p < buf + got;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            if (ev->mask & REPLACE_EVENTS)
                for (int i = 0; i < s->n; i++)
                    if (s->watch[i] == ev->wd)
                        rewatch(s, i);
            p += sizeof *ev + ev->len;
        }
    }
}
#endif

int bt_sem_wait(bt_sem *s, double seconds) {
#ifdef __linux__
    if (s->notify_fd < 0 && arm(s))
        return 0;
    if (s->notify_fd >= 0) {
        if (!(seconds > 0))
            seconds = 0;
        if (seconds > 1e6)
            seconds = 1e6;
        struct timespec ts;
        ts.tv_sec = (time_t)seconds;
        ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
        struct pollfd pfd = {s->notify_fd, POLLIN, 0};
        if (ppoll(&pfd, 1, &ts, NULL) <= 0)
            return 0;
        drain(s);
        return 1;
    }
#endif
    bt_sleep(seconds);
    return 0;
}

int bt_sem_slot(const bt_sem *s) {
    return s->held >= 0 && bt_flock_held(&s->slot[s->held]) ? s->held + 1 : 0;
}

const char *bt_sem_slot_path(const bt_sem *s, int k) {
    return k >= 1 && k <= s->n ? s->paths[k - 1] : NULL;
}

void bt_sem_release(bt_sem *s) {
    for (int i = 0; i < s->n; i++)
        bt_flock_release(&s->slot[i]);
    s->held = -1;
    unwatch(s);
}

void bt_sem_free(bt_sem *s) {
    if (!s)
        return;
    bt_sem_release(s);
    for (int i = 0; s->paths && i < s->n; i++)
        free(s->paths[i]);
    free(s->paths);
    free(s->watch);
    free(s);
}
