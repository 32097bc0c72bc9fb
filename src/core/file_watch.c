#define _GNU_SOURCE
#include "file_watch.h"

#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "os/release_watch.h"
#include "pid.h"


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
    w->wd[i] = inotify_add_watch(w->fd, path, BT_NOTIFY_EVENTS);
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
        int woken = bt_notify_wait(w->fd, seconds);
        if (woken == 2) /* a file was replaced: watch whatever is at the paths now */
            for (int i = 0; i < w->n; i++)
                rewatch(w, i, paths[i]);
        return woken != 0;
    }
#else
    (void)paths;
#endif
    bt_sleep(seconds);
    return 0;
}
