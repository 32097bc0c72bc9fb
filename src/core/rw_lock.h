/* Read/write locks on an SQLite database file, the same lock as Python filelock's
 * ReadWriteLock on the same file. A reader holds SQLite's SHARED lock inside a deferred
 * transaction (BEGIN, then a read of the schema table); a writer holds an EXCLUSIVE
 * transaction (BEGIN EXCLUSIVE); releasing rolls back. The journal stays in memory and
 * nothing is ever written to the file.
 *
 * A writer that finds readers in the way keeps SQLite's PENDING lock between attempts, so
 * new readers (ours, Python's, the sqlite3 shell's) wait behind it and a stream of readers
 * cannot starve it. Each attempt is non-blocking; the caller does the pausing, and may wait
 * for a sign of a release: a writer's release (and a reader's, when a writer waits) opens
 * and closes the file once, which waiters watch for with inotify. */
#ifndef BT_RW_H
#define BT_RW_H

#include <sys/types.h>

#include "errors.h"

enum { BT_RW_READ = 1, BT_RW_WRITE = 2 };

typedef struct bt_rw bt_rw;

/* A lock in the released state, or NULL when out of memory. Nothing is opened until the
 * first attempt; the connection then stays open until bt_rw_close or bt_rw_free. */
bt_rw *bt_rw_new(mode_t mode, int make_parents);

/* One attempt without blocking to take the lock at `path` for reading or writing (`how`):
 * BT_OK (held), BT_BUSY, or BT_FAIL with *err filled in. A writer's BT_BUSY may leave it
 * holding PENDING; bt_rw_abandon gives that up when the caller stops trying. */
int bt_rw_try(bt_rw *l, const char *path, int how, bt_err *err);

/* Wait up to `seconds` for a sign that the lock may have become free (a descriptor on the
 * file was closed, or the file replaced). The first call only arms the watch and returns at
 * once, so the caller's next attempt closes the race with a release before the watch.
 * Falls back to sleeping without a watch. Returns 1 when woken by an event, else 0. */
int bt_rw_wait(bt_rw *l, const char *path, double seconds);

/* Give up a wait: drop whatever a waiting writer holds. Held locks are left alone. */
void bt_rw_abandon(bt_rw *l);

/* 1 with the file's device and inode (on Windows its volume serial and file index) while a
 * connection is open on it, else 0. */
int bt_rw_identity(const bt_rw *l, unsigned long long *dev, unsigned long long *ino);

/* BT_RW_READ or BT_RW_WRITE while this process holds the lock, else 0. */
int bt_rw_held(const bt_rw *l);

/* Release the lock (and anything a waiting writer holds); the connection stays open for the
 * next acquisition. In a forked child, which never holds its parent's locks, it closes the
 * inherited connection instead. Idempotent. */
void bt_rw_release(bt_rw *l);

/* Release and close the connection; a later attempt opens a new one. Idempotent. */
void bt_rw_close(bt_rw *l);

/* Close and free. */
void bt_rw_free(bt_rw *l);

#endif
