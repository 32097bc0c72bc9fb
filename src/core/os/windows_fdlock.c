/* Locks on a file the caller opened (baton.lock_file) on Windows: fd_lock.h's API over
 * LockFileEx on byte 0, one byte long, of the C runtime descriptor's own handle
 * (_get_osfhandle): the byte the flock kind locks (windows.c), and Python filelock's
 * WindowsFileLock and msvcrt's _locking after an open, so that they exclude each other.
 * Exclusive, or shared. The lock belongs to that handle; nothing here closes it.
 *
 * The descriptor is checked before every use: its owner may have closed the Lua file (the
 * `closed` callback says so), or the number may now be another handle or another file; then
 * the lock is not held and nothing is locked or unlocked through it. There is no fork, so a
 * lock is always this process's. Byte ranges (OFD locks) and locks on a path are not built
 * here: the Lua layer refuses them first (lua/baton/kind/flock.lua). A wait with a deadline
 * is a series of attempts whose pauses the caller backs off; one without blocks in
 * LockFileEx. */
#include "windows.h"

#include <errno.h>
#include <io.h>
#include <string.h>

#include "../clock.h"
#include "../fd_lock.h"
#include "../holder_records.h"
#include "../pid.h"
#include "windows_records.h"

void bt_fdlock_init(bt_fdlock *l, int fd, int api, int shared, long long start, long long len,
                    mode_t mode, int make_parents) {
    bt_fdlock_init_common(l, fd, api, shared, start, len, mode, make_parents);
    l->os_handle = INVALID_HANDLE_VALUE;
}

static void id_to(unsigned long out[3], const bt_win_id *id) {
    out[0] = id->volume;
    out[1] = id->high;
    out[2] = id->low;
}

int bt_fdlock_borrow(bt_fdlock *l, int (*closed)(const void *file), const void *file,
                     bt_err *err) {
    HANDLE h = (HANDLE)_get_osfhandle(l->fd);
    bt_win_id id;
    if (h == INVALID_HANDLE_VALUE)
        return bt_fail(err, "lock", EBADF, NULL);
    if (bt_win_id_of(h, &id) != 0)
        return bt_win_fail(err, "stat", GetLastError());
    l->os_handle = h;
    id_to(l->os_id, &id);
    l->closed = closed;
    l->file = file;
    l->opener = bt_pid();
    return BT_OK;
}

/* Why the borrowed descriptor cannot be used now, or NULL when it can: still open, on the
 * handle and the file it was lent on. */
static const char *unusable(const bt_fdlock *l) {
    if (l->closed && l->closed(l->file))
        return "the file handle is closed";
    HANDLE h = (HANDLE)_get_osfhandle(l->fd);
    if (h == INVALID_HANDLE_VALUE)
        return "the descriptor is closed";
    bt_win_id id;
    unsigned long now[3];
    if (h != l->os_handle || bt_win_id_of(h, &id) != 0)
        return "the descriptor is no longer the file this lock was made for";
    id_to(now, &id);
    if (memcmp(now, l->os_id, sizeof now) != 0)
        return "the descriptor is no longer the file this lock was made for";
    return NULL;
}

static int usable(const bt_fdlock *l) { return l->borrowed && unusable(l) == NULL; }

static OVERLAPPED byte0(void) {
    OVERLAPPED ov;
    memset(&ov, 0, sizeof ov);
    return ov;
}

static int take(bt_fdlock *l, int block, bt_err *err) {
    if (!l->borrowed || l->api == BT_FD_OFD)
        return bt_fail(err, "lock", EOPNOTSUPP,
                       l->borrowed ? "byte-range (api = \"fcntl\") locks are not available on Windows yet"
                                   : "descriptor locks on a path are not available on Windows yet");
    const char *why = unusable(l);
    if (why) {
        l->locked = 0;
        return bt_fail(err, "lock", EBADF, why);
    }
    if (l->locked)
        return BT_OK;
    const DWORD how = (l->shared ? 0 : LOCKFILE_EXCLUSIVE_LOCK) | (block ? 0 : LOCKFILE_FAIL_IMMEDIATELY);
    OVERLAPPED ov = byte0();
    if (!LockFileEx(l->os_handle, how, 0, 1, 0, &ov)) {
        DWORD e = GetLastError();
        if (e == ERROR_LOCK_VIOLATION || e == ERROR_IO_PENDING)
            return BT_BUSY;
        return bt_win_fail(err, "lock", e);
    }
    l->locked = 1;
    l->owner = bt_pid();
    return BT_OK;
}

static int fd_try(void *state, const char *path, int how, bt_err *err, const char **named) {
    (void)path;
    (void)how;
    (void)named;
    return take((bt_fdlock *)state, 0, err);
}

int bt_fdlock_block(bt_fdlock *l, const char *path, bt_err *err) {
    (void)path;
    return take(l, 1, err);
}

/* Windows tells no waiter of an unlock: the pause between two attempts. */
static int fd_wait(void *state, const char *path, double seconds) {
    (void)state;
    (void)path;
    bt_sleep(seconds);
    return 0;
}

static int fd_pollfd(const void *state) {
    (void)state;
    return -1;
}

static int fd_held(const void *state) {
    const bt_fdlock *l = (const bt_fdlock *)state;
    return l->locked && usable(l);
}

/* The holder's record, in the file's shared memory (windows_records.c). */
static void fd_record(void *state, const char *note, size_t len) {
    bt_fdlock *l = (bt_fdlock *)state;
    if (!fd_held(l))
        return;
    bt_record_drop(l->record);
    l->record = bt_win_record_add(BT_RECORD_FLOCK, l->shared, l->os_handle, note, len);
}

/* Unlock what this object locked, through a descriptor that is still the file; the
 * descriptor stays open. */
int bt_fdlock_unlock(bt_fdlock *l, bt_err *err) {
    bt_record_drop(l->record);
    l->record = -1;
    int held = fd_held(l);
    l->locked = 0;
    OVERLAPPED ov = byte0();
    if (held && !UnlockFileEx(l->os_handle, 0, 1, 0, &ov))
        return bt_win_fail(err, "unlock", GetLastError());
    return BT_OK;
}

int bt_fdlock_fileno(const bt_fdlock *l) { return l->fd; }

static void fd_release(void *state, const char *path) {
    (void)path;
    bt_err err;
    bt_fdlock_unlock((bt_fdlock *)state, &err);
}

const bt_kind bt_fdlock_kind = {
    "baton.fdlock", "lock file", sizeof(bt_fdlock), NULL, fd_try, fd_wait, fd_pollfd,
    fd_held, fd_record, fd_release, fd_release,
};
