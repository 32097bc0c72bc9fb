/* Descriptors on SQLite lock files that must outlive every connection to their file.
 *
 * POSIX record locks (the locks SQLite takes) belong to a process and an inode: closing any
 * descriptor on the file drops every such lock the process holds there, including those of
 * its other connections. So a descriptor opened to vet the file (no symbolic link, a regular
 * file) is shared by all connections of this process to that inode and closed only when the
 * last of them is gone. */
#ifndef BT_RW_FILE_H
#define BT_RW_FILE_H

#include <sys/stat.h>
#include <sys/types.h>

#include "errors.h"

/* A descriptor on the regular file at `path` (created with `mode` if missing, its folders
 * too when `make_parents`), never through a symbolic link. *st describes the file and
 * *fresh is 1 when no connection of this process used the file yet. Each successful call
 * must be matched by one bt_rw_file_put. Returns BT_OK or BT_FAIL. */
int bt_rw_file_get(const char *path, mode_t mode, int make_parents, int *fd, struct stat *st,
                 int *fresh, bt_err *err);

/* 1 when a single connection of this process is on the file (dev, ino). */
int bt_rw_file_alone(dev_t dev, ino_t ino);

/* Read up to `cap` bytes from the start of the file (dev, ino) through the descriptor kept
 * for it, so that code of this process that wants to look into a lock file (baton.holder)
 * does not open and close another one, which would drop this process's locks there.
 * Returns the length read, -1 with errno set, or -2 when no descriptor is kept for it. */
long bt_rw_file_read(dev_t dev, ino_t ino, char *buf, size_t cap);

/* One connection to the file (dev, ino) is gone; the last closes the descriptors. */
void bt_rw_file_put(dev_t dev, ino_t ino);

#endif
