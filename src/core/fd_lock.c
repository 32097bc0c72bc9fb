/* Locks on a descriptor: flock(2) or OFD byte ranges, borrowed or opened here (fd_lock.h). */
#define _GNU_SOURCE
#include "fd_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "holder_records.h"
#include "lock_path.h"
#include "os/os.h"
#include "pid.h"

void bt_fdlock_init(bt_fdlock *l, int fd, int api, int shared, long long start, long long len,
                    mode_t mode, int make_parents) {
    bt_fdlock_init_common(l, fd, api, shared, start, len, mode, make_parents);
    if (fd >= 0)
        snprintf(l->watched, sizeof l->watched, "/proc/self/fd/%d", fd);
}

int bt_fdlock_borrow(bt_fdlock *l, int (*closed)(const void *file), const void *file,
                     bt_err *err) {
    struct stat st;
    if (fstat(l->fd, &st) != 0)
        return bt_fail(err, "lock", errno, NULL);
    l->dev = st.st_dev;
    l->ino = st.st_ino;
    l->closed = closed;
    l->file = file;
    l->opener = bt_pid();
    return BT_OK;
}

/* Why a borrowed descriptor cannot be used by this process now: NULL when it can (the file
 * it was lent on, still open, by the process that borrowed it); *code gets the errno. */
static const char *unusable(const bt_fdlock *l, int *code) {
    struct stat st;
    *code = EBADF;
    if (l->opener != bt_pid()) {
        *code = EPERM;
        return "the descriptor was inherited through fork and shares its parent's lock";
    }
    if (l->closed && l->closed(l->file))
        return "the file handle is closed";
    if (fstat(l->fd, &st) != 0)
        return "the descriptor is closed";
    if (st.st_dev != l->dev || st.st_ino != l->ino)
        return "the descriptor is no longer the file this lock was made for";
    return NULL;
}

/* 1 when this process may lock and unlock through the descriptor. */
static int usable(const bt_fdlock *l) {
    int code;
    return !l->borrowed ? l->opener == bt_pid() : unusable(l, &code) == NULL;
}

/* A path lock's descriptor: the lock file, or a folder opened read-only. */
static int open_path(bt_fdlock *l, const char *path, bt_err *err) {
    int fd = bt_fs_open_lock(path, l->mode, l->make_parents, err);
    if (fd < 0 && err->code == EISDIR)
        fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return err->code == EISDIR ? bt_fail(err, "open", errno, NULL) : BT_FAIL;
    l->fd = fd;
    l->opener = bt_pid();
    l->recheck = 0;
    return BT_OK;
}

/* A copy of a path lock's descriptor inherited through fork() shares the parent's lock: it
 * is let go (never unlocked) and the child opens its own. */
static void forget_inherited(bt_fdlock *l) {
    if (l->borrowed || l->fd < 0 || l->opener == bt_pid())
        return;
    close(l->fd);
    l->fd = -1;
    l->locked = 0;
    l->record = -1;
}

static int ofd(bt_fdlock *l, int type, int block) {
    return bt_os_range_lock(l->fd, type, (off_t)l->start, (off_t)l->len, block);
}

/* Let go of a path lock's descriptor that no longer is the file at the path. */
static void drop_replaced(bt_fdlock *l) {
    if (l->api == BT_FD_OFD)
        ofd(l, F_UNLCK, 0);
    else
        flock(l->fd, LOCK_UN);
    close(l->fd);
    l->fd = -1;
}

/* One attempt, or a wait in the kernel's queue: BT_OK, BT_BUSY, or BT_FAIL. A path lock
 * checks that the file it locked is still the one at the path (a peer may have removed it
 * while we waited) and opens the path again when not, as flock locks do (flock_lock.c). */
static int lock_once(bt_fdlock *l, const char *path, int block, bt_err *err) {
    for (int i = 0; i < BT_MAX_REOPENS; i++) {
        if (l->fd < 0 && open_path(l, path, err) != BT_OK)
            return BT_FAIL;
        int r;
        if (l->api == BT_FD_OFD)
            r = ofd(l, l->shared ? F_RDLCK : F_WRLCK, block);
        else
            r = flock(l->fd, (l->shared ? LOCK_SH : LOCK_EX) | (block ? 0 : LOCK_NB));
        struct stat mine;
        if (r != 0) {
            if (!(errno == EINTR || errno == EWOULDBLOCK || errno == EAGAIN ||
                  (errno == EACCES && l->api == BT_FD_OFD)))
                return bt_fail(err, "lock", errno, NULL);
            /* Busy. Held on a file that is no longer at the path, we would wait forever. */
            if (!l->borrowed && (l->recheck || bt_watch_fd(&l->watch) < 0)) {
                l->recheck = 0;
                if (fstat(l->fd, &mine) == 0 && bt_fs_replaced(path, &mine)) {
                    drop_replaced(l);
                    continue;
                }
            }
            return BT_BUSY;
        }
        if (l->borrowed)
            return BT_OK;
        if (fstat(l->fd, &mine) != 0) {
            int saved = errno;
            drop_replaced(l);
            return bt_fail(err, "stat", saved, NULL);
        }
        if (!bt_fs_replaced(path, &mine)) {
            l->dev = mine.st_dev;
            l->ino = mine.st_ino;
            return BT_OK;
        }
        drop_replaced(l);
    }
    return bt_fail(err, "lock", EAGAIN, "the lock file keeps being replaced");
}

static int take(bt_fdlock *l, const char *path, int block, bt_err *err) {
    forget_inherited(l);
    int code;
    const char *why = l->borrowed ? unusable(l, &code) : NULL;
    if (why) {
        l->locked = 0;
        return bt_fail(err, "lock", code, why);
    }
    if (l->locked && l->owner == bt_pid())
        return BT_OK;
    l->locked = 0;
    int r = lock_once(l, path, block, err);
    if (r != BT_OK)
        return r;
    l->locked = 1;
    l->owner = bt_pid();
    if (l->watch.fd >= 0)
        bt_watch_stop(&l->watch);
    return BT_OK;
}

static int fd_try(void *state, const char *path, int how, bt_err *err, const char **named) {
    (void)how;
    (void)named;
    return take((bt_fdlock *)state, path, 0, err);
}

int bt_fdlock_block(bt_fdlock *l, const char *path, bt_err *err) { return take(l, path, 1, err); }

/* A release shows as a close of the file (inotify follows /proc/self/fd/N to it); holders
 * that only unlock are found by the caller's next attempt. */
static int fd_wait(void *state, const char *path, double seconds) {
    bt_fdlock *l = (bt_fdlock *)state;
    const char *watched = l->borrowed ? l->watched : path;
    int woke = bt_watch_wait(&l->watch, &watched, 0, NULL, seconds);
    if (woke == BT_WOKE_ARMED || woke == BT_WOKE_REPLACED)
        l->recheck = 1; /* the file may have changed before the watch was set, or since */
    return woke == BT_WOKE_EVENT || woke == BT_WOKE_REPLACED;
}

static int fd_pollfd(const void *state) { return bt_watch_fd(&((const bt_fdlock *)state)->watch); }

static int fd_held(const void *state) {
    const bt_fdlock *l = (const bt_fdlock *)state;
    return l->locked && l->owner == bt_pid() && usable(l);
}

static void fd_record(void *state, const char *note, size_t len) {
    bt_fdlock *l = (bt_fdlock *)state;
    struct stat st;
    if (!fd_held(l) || fstat(l->fd, &st) != 0)
        return;
    bt_record_drop(l->record);
    l->record = bt_record_add(BT_RECORD_FLOCK, l->shared, st.st_dev, st.st_ino, note, len);
}

int bt_fdlock_unlock(bt_fdlock *l, bt_err *err) {
    bt_record_drop(l->record);
    l->record = -1;
    int r = 0;
    if (l->fd >= 0 && usable(l))
        r = l->api == BT_FD_OFD ? ofd(l, F_UNLCK, 0) : flock(l->fd, LOCK_UN);
    l->locked = 0;
    return r == 0 ? BT_OK : bt_fail(err, "unlock", errno, NULL);
}

int bt_fdlock_fileno(const bt_fdlock *l) { return l->fd; }

/* Unlock when this process took the lock (a forked child's copy must not release its
 * parent's); a path lock's own descriptor is closed, a borrowed one never. */
static void fd_release(void *state, const char *path) {
    (void)path;
    bt_fdlock *l = (bt_fdlock *)state;
    bt_err err;
    if (fd_held(l))
        bt_fdlock_unlock(l, &err);
    bt_record_drop(l->record);
    l->record = -1;
    l->locked = 0;
    if (!l->borrowed && l->fd >= 0) {
        close(l->fd);
        l->fd = -1;
    }
    if (l->watch.fd >= 0)
        bt_watch_stop(&l->watch);
}

static void fd_end(void *state, const char *path) {
    fd_release(state, path);
    bt_watch_close(&((bt_fdlock *)state)->watch);
}

const bt_kind bt_fdlock_kind = {
    "baton.fdlock", "lock file", sizeof(bt_fdlock), NULL, fd_try, fd_wait, fd_pollfd,
    fd_held, fd_record, fd_release, fd_end,
};
