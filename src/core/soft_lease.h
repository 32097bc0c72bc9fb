/* The heartbeat of a soft lease (Python filelock's SoftFileLease): a thread that refreshes
 * the holder's marker (its modification time) every `every` seconds while the lock is held,
 * so that contenders, who take a lease once its marker is `lease` seconds old, leave it be.
 * It stops at the first sign that the lease is lost: the marker gone from the path, the path
 * naming another file (a contender took the lease), or refreshes failing for so long that a
 * contender could take it. The loss is kept for the Lua side (bt_beat_lost) and signalled on
 * a descriptor an event loop can poll. */
#ifndef BT_SOFT_LEASE_H
#define BT_SOFT_LEASE_H

#include <stddef.h>
#include <sys/types.h>

typedef struct bt_beat bt_beat;

/* Start refreshing the marker open on `fd` (device dev, inode ino), named `name` in the
 * folder `dir` (or the whole `path` when dir < 0). NULL with errno when no thread can be
 * had. */
bt_beat *bt_beat_start(int dir, const char *path, const char *name, int fd, dev_t dev,
                       ino_t ino, double lease, double every);

/* 1 when the lease was lost, with what happened in why (and the reason's short name,
 * "marker-missing", "owner-changed" or "refresh-failed", in *reason); else 0. */
int bt_beat_lost(bt_beat *b, char *why, size_t cap, const char **reason);

/* Readable once the lease is lost; -1 when there is none. */
int bt_beat_fd(const bt_beat *b);

/* Stop the thread and free everything. In a forked child (no thread there), only the
 * child's copies are given back. NULL is fine. */
void bt_beat_stop(bt_beat *b);

/* What one refresh of a heartbeat found (each platform's soft_lease.c makes them). */
enum { BT_BEAT_OK = 0, BT_BEAT_MISSING = 1, BT_BEAT_CHANGED = 2, BT_BEAT_TRANSIENT = 3 };

/* The heartbeat's verdict on refresh result r at time now: NULL while the lease holds (a
 * success moves *last_ok to now), else the loss's short name with *what saying what
 * happened: the marker gone, replaced, or failing refreshes for so long that a contender
 * could take it before the next success. Inline: the heartbeat of each platform uses it. */
static inline const char *bt_beat_verdict(int r, double now, double *last_ok, double lease,
                                          double every, const char **what) {
    if (r == BT_BEAT_MISSING) {
        *what = "its marker was removed";
        return "marker-missing";
    }
    if (r == BT_BEAT_CHANGED) {
        *what = "its marker was replaced: another holder took the lease";
        return "owner-changed";
    }
    if (r == BT_BEAT_OK)
        *last_ok = now;
    else if (now - *last_ok >= lease - every) {
        *what = "its marker could not be refreshed";
        return "refresh-failed";
    }
    return NULL;
}

#endif
