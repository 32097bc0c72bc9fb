/* Exclusive and shared flock(2) locks on a lock file, with a waiter that wakes when the
 * holder closes the file (the release watch, os/os.h) instead of on a timer. */
#ifndef BT_FLOCK_H
#define BT_FLOCK_H

#include <sys/types.h>

#include "errors.h"
#include "os/os.h"

typedef struct bt_flock {
    int fd;        /* descriptor on the lock file; -1 when none is open */
    int locked;    /* 1 while fd carries our flock */
    pid_t owner;   /* process that took the lock: a forked child must not unlock it */
    pid_t opener;  /* process that opened fd: a forked child has only a copy */
    bt_watch watch; /* the release watch on the lock file while waiting (os/os.h) */
    int wd;        /* its one watch */
    int recheck;   /* the file may have been replaced: compare inodes on the next busy attempt */
    int shared;    /* LOCK_SH instead of LOCK_EX */
    int make_parents;
    mode_t mode;   /* permission bits for a file we create (lock_path.h: BT_MODE_EXACT) */
    int record;    /* holder record published for baton.holder (holder_records.h); -1 when none */
    dev_t dev;     /* the locked file, while locked */
    ino_t ino;
    unsigned long long index; /* Windows: the locked file's index (its ino_t has 16 bits) */
    const char *name;              /* how messages name this lock, or NULL (bt_flock_held_here) */
    struct bt_flock *held_next;    /* the process's list of held locks, while locked */
    struct bt_flock *held_prev;
    int listed;                    /* 1 while in that list */
} bt_flock;

/* A lock in the released state; nothing is opened until bt_flock_try. */
void bt_flock_init(bt_flock *l, int shared, mode_t mode, int make_parents);

/* One attempt without blocking: BT_OK (held), BT_BUSY, or BT_FAIL with *err filled in.
 * On BT_BUSY the descriptor stays open so the next attempt and the waiter can use it. */
int bt_flock_try(bt_flock *l, const char *path, bt_err *err);

/* Wait in the kernel's queue until the lock is ours: the fastest hand-off and no wake-ups,
 * but no deadline. Returns BT_OK, BT_FAIL, or BT_BUSY when a signal interrupted the wait. */
int bt_flock_block(bt_flock *l, const char *path, bt_err *err);

/* Wait up to `seconds` for a sign that the lock may have become free (the file was closed,
 * replaced or removed). The first call only arms the watch and returns at once, so the
 * caller's next attempt closes the race with a release that came before the watch. Falls
 * back to sleeping when no watch can be had. Returns 1 when woken by an event, else 0. */
int bt_flock_wait(bt_flock *l, const char *path, double seconds);

/* The descriptor an event loop can poll for readability to learn of a release, or -1. */
int bt_flock_pollfd(const bt_flock *l);

/* 1 when this process holds the lock (not a forked child that inherited the descriptor). */
int bt_flock_held(const bt_flock *l);

/* After an attempt that found the lock busy: another lock of this process (another handle
 * on the same file, however its path was spelt: the same device and inode) that holds it
 * in a mode that conflicts with ours, or NULL when none does. A wait that nothing else in
 * this process can interrupt would never end then. */
const bt_flock *bt_flock_held_here(const bt_flock *l);

/* Publish this holder's note and the time it took the lock, for baton.holder. Does nothing
 * when the lock is not held by this process. note may be NULL. */
void bt_flock_record(bt_flock *l, const char *note, size_t note_len);

/* Release the lock (if held by this process) and close every descriptor. Idempotent. */
void bt_flock_release(bt_flock *l);

#endif
