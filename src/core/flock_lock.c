/* flock(2) locks: open, lock, re-check the inode, wait in the kernel or on the watch. */
#define _GNU_SOURCE
#include "flock_lock.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "lock_path.h"
#include "os/os.h"
#include "pid.h"
#include "holder_records.h"


void bt_flock_init(bt_flock *l, int shared, mode_t mode, int make_parents) {
    l->fd = -1;
    l->locked = 0;
    l->owner = 0;
    l->opener = 0;
    bt_watch_init(&l->watch, &l->wd, 1);
    l->recheck = 0;
    l->shared = shared;
    l->make_parents = make_parents;
    l->mode = mode;
    l->record = -1;
    l->name = NULL;
    l->held_next = NULL;
    l->held_prev = NULL;
    l->listed = 0;
}

/* Every lock this process holds, so that a lock object can tell that the holder it waits
 * for is this very process. A few stores per acquisition; the guard only matters when
 * several threads each run Lua states. */
static bt_flock *held_list;
static atomic_flag held_guard = ATOMIC_FLAG_INIT;

static void guard_on(void) {
    while (atomic_flag_test_and_set_explicit(&held_guard, memory_order_acquire))
        ;
}

static void guard_off(void) { atomic_flag_clear_explicit(&held_guard, memory_order_release); }

static void list_held(bt_flock *l) {
    guard_on();
    l->held_prev = NULL;
    l->held_next = held_list;
    if (held_list)
        held_list->held_prev = l;
    held_list = l;
    l->listed = 1;
    guard_off();
}

static void unlist_held(bt_flock *l) {
    if (!l->listed)
        return;
    guard_on();
    if (l->held_prev)
        l->held_prev->held_next = l->held_next;
    else
        held_list = l->held_next;
    if (l->held_next)
        l->held_next->held_prev = l->held_prev;
    l->held_next = l->held_prev = NULL;
    l->listed = 0;
    guard_off();
}

const bt_flock *bt_flock_held_here(const bt_flock *l) {
    struct stat st;
    if (l->fd < 0 || l->locked || fstat(l->fd, &st) != 0)
        return NULL;
    pid_t me = bt_pid();
    const bt_flock *found = NULL;
    guard_on();
    for (const bt_flock *o = held_list; o && !found; o = o->held_next)
        if (o != l && o->locked && o->owner == me && o->dev == st.st_dev && o->ino == st.st_ino &&
            !(o->shared && l->shared))
            found = o;
    guard_off();
    return found;
}

static void unwatch(bt_flock *l) {
    if (l->watch.fd >= 0)
        bt_watch_stop(&l->watch);
}

static int open_file(bt_flock *l, const char *path, bt_err *err) {
    int fd = bt_fs_open_lock(path, l->mode, l->make_parents, err);
    if (fd < 0)
        return BT_FAIL;
    l->fd = fd;
    l->opener = bt_pid();
    bt_watch_retarget(&l->watch, 0, path); /* a waiter watches the file it opened */
    return BT_OK;
}

/* Close our descriptor; unlock first only if this process took the lock, because a forked
 * child shares the open file description and would release its parent's lock. */
static void drop_fd(bt_flock *l) {
    bt_record_drop(l->record);
    l->record = -1;
    unlist_held(l);
    if (l->fd < 0)
        return;
    if (l->locked && l->owner == bt_pid())
        flock(l->fd, LOCK_UN);
    close(l->fd);
    l->fd = -1;
    l->locked = 0;
}

/* After fork(), a child holds copies of its parent's descriptors. The lock file's copy
 * shares the parent's open file description, on which flock(2) succeeds whenever the
 * parent holds (or gets) the lock: the child would believe it holds the parent's lock, and
 * both would go on as holders. Let go of the copies (never unlocking) and start afresh. */
static void forget_inherited(bt_flock *l) {
    if (l->watch.fd >= 0 && l->watch.owner != bt_pid())
        unwatch(l); /* a copy of the parent's watch: its events are the parent's to read */
    if (l->fd < 0 || l->opener == bt_pid())
        return;
    unlist_held(l); /* the parent's entry, in this child's copy of the list */
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
    l->locked = 0;
    l->record = -1; /* the parent's record, which bt_record never lets a child touch */
}

/* One attempt (block = 0) or a wait in the kernel's queue (block = 1), which a signal ends
 * with BT_BUSY so the caller's signal handling can run. */
static int take(bt_flock *l, const char *path, int block, bt_err *err) {
    forget_inherited(l);
    if (l->locked)
        return BT_OK;
    const int how = (l->shared ? LOCK_SH : LOCK_EX) | (block ? 0 : LOCK_NB);
    for (int i = 0; i < BT_MAX_REOPENS; i++) {
        if (l->fd < 0 && open_file(l, path, err) != BT_OK)
            return BT_FAIL;
        int r;
        do
            r = flock(l->fd, how);
        while (r != 0 && errno == EINTR && !block);
        struct stat mine;
        if (r != 0) {
            if (errno == EINTR)
                return BT_BUSY;
            if (errno != EWOULDBLOCK) {
                int saved = errno;
                drop_fd(l);
                return bt_fail(err, "lock", saved, NULL);
            }
            /* Busy. Held on a file that is no longer at the path, we would wait forever. */
            if (l->recheck || bt_watch_fd(&l->watch) < 0) {
                l->recheck = 0;
                if (fstat(l->fd, &mine) == 0 && bt_fs_replaced(path, &mine)) {
                    drop_fd(l);
                    continue;
                }
            }
            return BT_BUSY;
        }
        l->locked = 1;
        l->owner = bt_pid();
        if (fstat(l->fd, &mine) != 0) {
            int saved = errno;
            drop_fd(l);
            return bt_fail(err, "stat", saved, NULL);
        }
        if (!S_ISREG(mine.st_mode)) {
            drop_fd(l);
            return bt_fail(err, "use", EINVAL, "not a regular file");
        }
        if (bt_fs_replaced(path, &mine)) {
            drop_fd(l);
            continue;
        }
        l->dev = mine.st_dev;
        l->ino = mine.st_ino;
        list_held(l);
        unwatch(l);
        return BT_OK;
    }
    drop_fd(l);
    return bt_fail(err, "lock", EAGAIN, "the lock file keeps being replaced");
}

int bt_flock_try(bt_flock *l, const char *path, bt_err *err) { return take(l, path, 0, err); }

int bt_flock_block(bt_flock *l, const char *path, bt_err *err) { return take(l, path, 1, err); }

int bt_flock_wait(bt_flock *l, const char *path, double seconds) {
    forget_inherited(l);
    int woke = bt_watch_wait(&l->watch, &path, 0, NULL, seconds);
    if (woke == BT_WOKE_ARMED || woke == BT_WOKE_REPLACED)
        l->recheck = 1; /* the file may have changed before the watch was set, or since */
    return woke == BT_WOKE_EVENT || woke == BT_WOKE_REPLACED;
}

int bt_flock_pollfd(const bt_flock *l) { return bt_watch_fd(&l->watch); }

int bt_flock_held(const bt_flock *l) { return l->locked && l->owner == bt_pid(); }

void bt_flock_record(bt_flock *l, const char *note, size_t note_len) {
    if (!bt_flock_held(l))
        return;
    bt_record_drop(l->record);
    l->record = bt_record_add(BT_RECORD_FLOCK, l->shared, l->dev, l->ino, note, note_len);
}

void bt_flock_release(bt_flock *l) {
    drop_fd(l);
    unwatch(l);
}
