/* Waiting for a sign that a lock held in files may have become free: one inotify instance
 * (from the pool in bt_notify.c) watching a set of files for closes, replacement and
 * removal. Used by the kinds of lock whose holders cannot be waited on in the kernel with a
 * deadline: SQLite's record locks (bt_rw.c) and semaphore slots (bt_sem.c). */
#ifndef BT_WATCH_H
#define BT_WATCH_H

#include <sys/types.h>

typedef struct bt_watch {
    int fd;      /* inotify instance while watching, else -1 */
    pid_t owner; /* the process that set the watches: a forked child shares the instance */
    int n;       /* number of files */
    int *wd;     /* the watch on each file (caller's storage for n ints), -1 when none */
} bt_watch;

/* Not watching yet; `wds` holds n ints and lives as long as the watch. */
void bt_watch_init(bt_watch *w, int *wds, int n);

/* Wait up to `seconds` for a descriptor on one of the files at paths[0..n-1] to be closed,
 * or a file to be replaced or removed. The first call only sets the watches and returns 0 at
 * once, so the caller's next attempt closes the race with a release that came before them.
 * Without inotify it sleeps. Returns 1 when woken by an event, else 0. */
int bt_watch_wait(bt_watch *w, const char *const *paths, double seconds);

/* Stop watching and lend the instance back. Idempotent. */
void bt_watch_stop(bt_watch *w);

#endif
