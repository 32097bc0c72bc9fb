/* Locks on a descriptor: flock(2) or open file description (OFD) byte-range locks
 * (F_OFD_SETLK), on a descriptor the caller opened (never closed here) or on a path this
 * lock opens itself (a lock file, or a folder, opened read-only as flock(1) opens it).
 * fd_lock.c on POSIX; on Windows, os/windows_fdlock.c: LockFileEx on byte 0 of a borrowed
 * descriptor's handle only. */
#ifndef BT_FD_LOCK_H
#define BT_FD_LOCK_H

#include <sys/types.h>

#include "errors.h"
#include "lock_kind.h"
#include "os/os.h"

enum { BT_FD_FLOCK = 0, BT_FD_OFD = 1 };

typedef struct bt_fdlock {
    int fd;          /* the descriptor locked; -1 when a path lock has none open */
    int borrowed;    /* 1: the caller's descriptor, never closed here */
    int api;         /* BT_FD_FLOCK or BT_FD_OFD */
    int shared;
    long long start; /* OFD: the range, from `start`, `len` bytes (0: to the end, growing) */
    long long len;
    mode_t mode;     /* a lock file created by a path lock */
    int make_parents;
    int locked;
    pid_t owner;     /* the process that took the lock */
    pid_t opener;    /* the process that opened fd, or that borrowed it */
    int record;      /* holder record (holder_records.h), -1 when none */
    bt_watch watch;  /* the release watch while waiting */
    int wd;
    char watched[40]; /* /proc/self/fd/N: what a borrowed descriptor's watch follows */
    dev_t dev;       /* the file locked: a borrowed descriptor's since bt_fdlock_borrow, */
    ino_t ino;       /* a path lock's while locked */
    int recheck;     /* a path lock's file may have been replaced: compare on the next busy try */
    int (*closed)(const void *file); /* a borrowed descriptor's owner: 1 once it closed it */
    const void *file;
    void *os_handle;        /* Windows (os/windows_fdlock.c): the borrowed descriptor's handle */
    unsigned long os_id[3]; /* and its file's volume serial and index */
} bt_fdlock;

/* A lock on the caller's descriptor `fd` (borrowed: fd >= 0) or, with fd < 0, on the file
 * at the path given to each call. Nothing is locked until the first attempt. */
void bt_fdlock_init(bt_fdlock *l, int fd, int api, int shared, long long start, long long len,
                    mode_t mode, int make_parents);

/* What every platform's bt_fdlock_init sets first: the arguments, the rest zero, no record,
 * no watch. */
static inline void bt_fdlock_init_common(bt_fdlock *l, int fd, int api, int shared, long long start,
                                         long long len, mode_t mode, int make_parents) {
    *l = (bt_fdlock){.fd = fd, .borrowed = fd >= 0, .api = api, .shared = shared, .start = start,
                     .len = len, .mode = mode, .make_parents = make_parents, .record = -1};
    bt_watch_init(&l->watch, &l->wd, 1);
}

/* After bt_fdlock_init with a descriptor: remember the file it is open on now and this
 * process as its opener. From then on nothing is locked or unlocked through it in another
 * process (a child of fork() shares the open file description, and its lock), nor once it
 * is no longer that file, or `closed(file)` (when given) says its owner closed it: then it
 * is not held. BT_OK, or BT_FAIL (EBADF) when fd is not open. */
int bt_fdlock_borrow(bt_fdlock *l, int (*closed)(const void *file), const void *file,
                     bt_err *err);

/* Wait in the kernel's queue (no deadline): BT_OK, BT_FAIL, or BT_BUSY when a signal ended
 * the wait. */
int bt_fdlock_block(bt_fdlock *l, const char *path, bt_err *err);

/* The descriptor locked or to be locked, or -1. */
int bt_fdlock_fileno(const bt_fdlock *l);

/* Unlock without closing anything, even a path lock's own descriptor (flock -u). */
int bt_fdlock_unlock(bt_fdlock *l, bt_err *err);

extern const bt_kind bt_fdlock_kind; /* state: bt_fdlock */

#endif
