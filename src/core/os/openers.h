/* Which processes have a file open, found by looking through /proc/PID/fd. A marker that
 * names no owner (filelock 3.9 leaves it empty) is still held while its creator keeps it
 * open; this is how baton tells such a holder from a crashed one. Only processes whose
 * descriptors this process may read are seen (its own user's, or all of them for root). */
#ifndef BT_OPENERS_H
#define BT_OPENERS_H

#include <stddef.h>
#include <sys/types.h>

/* Processes other than this one, owned by `uid` (or any owner when uid is (uid_t)-1),
 * that have the file dev/ino open. Fills at most `max` pids and returns how many were
 * found in all, or -1 with errno set when /proc cannot be read. */
long bt_openers(dev_t dev, ino_t ino, uid_t uid, pid_t *pids, size_t max);

/* As bt_openers, counting only processes that have the file open for writing only, as
 * filelock 3.9's SoftFileLock keeps its empty marker (lock files for flock and SQLite are
 * open for reading, or reading and writing). */
long bt_writers(dev_t dev, ino_t ino, uid_t uid, pid_t *pids, size_t max);

/* 1 when process `pid` has the file dev/ino open (as far as this process may look). */
int bt_has_open(pid_t pid, dev_t dev, ino_t ino);

#endif
