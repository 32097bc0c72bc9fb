/* Soft read/write locks: Python filelock's SoftReadWriteLock on the same files, for shared
 * file systems where SQLite's locks are unreliable. Beside the lock path PATH:
 *   PATH.state          a soft lock (soft_lock.h) held only during a transition
 *   PATH.write          the writer's marker: a writer claims or holds the lock
 *   PATH.readers/NAME   one marker per reader (NAME: 32 hex digits, '.', the pid)
 * A marker holds "TOKEN\nPID\nHOST\n" (TOKEN: 32 random hex digits), mode 0600. A heartbeat
 * (soft_lease.h) refreshes the held marker's time; a marker older than the stale threshold
 * is evicted by anyone, on any host. A writer claims PATH.write first (which keeps new
 * readers out), then waits for the readers to drain: writers are preferred. */
#ifndef BT_SOFT_RW_H
#define BT_SOFT_RW_H

#include <string.h>
#include <sys/types.h>

#include "clock.h"
#include "lock_kind.h"
#include "pid.h"
#include "soft_lock.h"

typedef struct bt_softrw {
    bt_soft state;      /* PATH.state, held during a transition only */
    int held;           /* 0, 1 (read) or 2 (write) */
    int claimed;        /* a writer's claim on PATH.write, readers not yet drained */
    int fd;             /* our marker while claimed or held; -1 otherwise */
    int dir;            /* PATH's folder (O_PATH) while claimed or held */
    int rdir;           /* PATH.readers while reading */
    char name[80];      /* our marker's name in dir (NAME.write) or rdir (a reader's) */
    dev_t dev;
    ino_t ino;
    pid_t owner;
    double every, stale;
    bt_beat *beat;
    int make_parents;
} bt_softrw;

extern const bt_kind bt_softrw_kind; /* state: bt_softrw; held_names: "read", "write" */

/* Inline: each platform's soft read/write locks share it. */
static inline void bt_softrw_init(bt_softrw *l, int make_parents, double every, double stale) {
    memset(l, 0, sizeof *l);
    bt_soft_init(&l->state, 0644, make_parents, -1);
    l->fd = l->dir = l->rdir = -1;
    l->owner = bt_pid();
    l->make_parents = make_parents;
    l->every = every;
    l->stale = stale;
}

/* Give up a writer's claim that has not become the lock (a wait that ends). */
void bt_softrw_abandon(bt_softrw *l, const char *path);

/* 1 when the held lock was lost (its marker evicted, or replaced by another holder's, while
 * its heartbeat could not keep it young): why filled in, reason its short name; else 0. */
int bt_softrw_lost(const bt_softrw *l, char *why, size_t cap, const char **reason);

/* Readable once the held lock is lost; -1 when nothing is held. */
int bt_softrw_lostfd(const bt_softrw *l);

/* One marker of the soft read/write lock at a path, for baton.holder. */
typedef struct bt_softrw_marker {
    int write;          /* PATH.write, else a reader's */
    long pid;
    char host[256];
    double mtime;
} bt_softrw_marker;

/* The markers of the soft read/write lock at `path` (the writer's first) into out: how
 * many, or -1 with errno. Markers that cannot be parsed are left out. */
int bt_softrw_markers(const char *path, bt_softrw_marker *out, int max);

/* How long a release waits for PATH.state, which a transition holds for microseconds. */
#define BT_SOFTRW_RELEASE_PATIENCE 5.0

/* Take PATH.state (at spath) for a release: 0, or -1 when it cannot be had (its holder
 * lives on past BT_SOFTRW_RELEASE_PATIENCE, or it fails). Inline: each platform's soft
 * read/write locks use it. */
static inline int bt_softrw_take_state(bt_softrw *l, const char *spath) {
    double until = bt_now() + BT_SOFTRW_RELEASE_PATIENCE, pause = 0.0005;
    for (;;) {
        bt_err err;
        int r = bt_soft_try(&l->state, spath, &err);
        if (r == BT_OK)
            return 0;
        if (r != BT_BUSY || bt_now() >= until) {
            bt_soft_release(&l->state, spath);
            return -1;
        }
        bt_sleep(pause);
        if (pause < 0.01)
            pause *= 2;
    }
}

#endif
