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

#endif
