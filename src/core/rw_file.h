/* The lock file of an SQLite read/write lock, as the platform has it: the descriptor baton
 * keeps on it beside SQLite's connection, its identity, and the few things rw_lock.c asks of
 * it. rw_file.c is the POSIX one, os/windows_rw.c the Windows one.
 *
 * POSIX record locks (the locks SQLite takes there) belong to a process and an inode:
 * closing any descriptor on the file drops every such lock the process holds there,
 * including those of its other connections. So on POSIX a descriptor opened to vet the file
 * (no symbolic link, a regular file) is shared by all connections of this process to that
 * inode and closed only when the last of them is gone. Windows' locks (LockFileEx) belong to
 * a handle: each connection has a descriptor of its own there. */
#ifndef BT_RW_FILE_H
#define BT_RW_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include <sqlite3.h>

#include "errors.h"

/* Which file it is: the device and inode (POSIX), the volume serial and the file index
 * (Windows). */
typedef struct bt_rw_id {
    unsigned long long dev, ino;
} bt_rw_id;

/* A descriptor on the regular file at `path` (created with `mode` if missing, its folders
 * too when `make_parents`), never through a symbolic link. *id says which file it is and
 * *fresh is 1 when no connection of this process used the file yet. Each successful call
 * must be matched by one bt_rw_file_put. Returns BT_OK or BT_FAIL. */
int bt_rw_file_get(const char *path, mode_t mode, int make_parents, int *fd, bt_rw_id *id,
                   int *fresh, bt_err *err);

/* The name SQLite is to open for the file of `fd`: one that names that very file, whatever
 * the path names now, where the system has one (into buf), else `path`. */
const char *bt_rw_file_name(int fd, const char *path, char *buf, size_t cap);

/* 1 when SQLite's file `f`, just opened by the name above, is the file of `fd` (where the
 * system cannot tell, 1: the caller checks the path after every attempt). */
int bt_rw_file_opened(sqlite3_file *f, int fd);

/* 1 while the path still names the file `id`. */
int bt_rw_file_at(const char *path, const bt_rw_id *id);

/* 1 where the file cannot leave its path while SQLite has it open, so that an attempt on an
 * open connection needs no look at the path: on Windows, where SQLite's handle does not
 * share deletion (no peer can delete, rename or replace the file meanwhile); 0 on POSIX. */
int bt_rw_file_stays(void);

/* Read up to n bytes from the start of the file of `fd`: the length read, or -1. */
long bt_rw_file_head(int fd, unsigned char *buf, size_t n);

/* 1 when another holder has SQLite's PENDING byte (a writer waits) where SQLite itself lets
 * a reader in without looking at it (POSIX: another connection of this process reads),
 * else 0. */
int bt_rw_file_pending(int fd);

/* Let waiters in other processes know the file may be free, where they watch for a
 * descriptor on it being closed (and where that is safe for this process's locks). */
void bt_rw_file_ring(int fd, const bt_rw_id *id);

/* The errno value of the system error SQLite reports (sqlite3_system_errno). */
int bt_rw_file_errno(int sys);

/* Read up to `cap` bytes from the start of the file (dev, ino) through the descriptor kept
 * for it, so that code of this process that wants to look into a lock file (baton.holder)
 * does not open and close another one, which would drop this process's locks there.
 * Returns the length read, -1 with errno set, or -2 when no descriptor is kept for it.
 * POSIX only. */
long bt_rw_file_read(dev_t dev, ino_t ino, char *buf, size_t cap);

/* One connection to the file `id` (through `fd`) is gone; on POSIX the last closes the
 * descriptors. */
void bt_rw_file_put(int fd, const bt_rw_id *id);

#endif
