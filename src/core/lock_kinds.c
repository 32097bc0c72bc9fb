/* The operations table (lock_kind.h) of each kind: flock, soft, read/write and semaphore. */
#include "lock_kind.h"

#include "flock_lock.h"
#include "rw_lock.h"
#include "semaphore.h"
#include "soft_lock.h"

/* ---- flock ---- */

static int flock_try(void *s, const char *path, int how, bt_err *err, const char **named) {
    (void)how;
    *named = path;
    return bt_flock_try(s, path, err);
}
static int flock_wait(void *s, const char *path, double seconds) {
    return bt_flock_wait(s, path, seconds);
}
static int flock_pollfd(const void *s) { return bt_flock_pollfd(s); }
static int flock_held(const void *s) { return bt_flock_held(s); }
static void flock_record(void *s, const char *note, size_t len) { bt_flock_record(s, note, len); }
static void flock_release(void *s, const char *path) {
    (void)path;
    bt_flock_release(s);
}

const bt_kind bt_flock_kind = {"baton.flock", "lock file", sizeof(bt_flock), NULL,
                               flock_try, flock_wait, flock_pollfd, flock_held,
                               flock_record, flock_release, flock_release};

/* ---- soft ---- */

static int soft_try(void *s, const char *path, int how, bt_err *err, const char **named) {
    (void)how;
    *named = path;
    return bt_soft_try(s, path, err);
}
static int soft_wait(void *s, const char *path, double seconds) {
    return bt_soft_wait(s, path, seconds);
}
static int soft_pollfd(const void *s) { return bt_soft_pollfd(s); }
static int soft_held(const void *s) { return bt_soft_held(s); }
static void soft_record(void *s, const char *note, size_t len) { bt_soft_record(s, note, len); }
static void soft_release(void *s, const char *path) { bt_soft_release(s, path); }

const bt_kind bt_soft_kind = {"baton.soft", "soft lock", sizeof(bt_soft), NULL,
                              soft_try, soft_wait, soft_pollfd, soft_held,
                              soft_record, soft_release, soft_release};

/* ---- read/write ---- */

static bt_rw *rw_of(const void *s) { return *(bt_rw *const *)s; }

static int rw_try(void *s, const char *path, int how, bt_err *err, const char **named) {
    *named = path;
    return bt_rw_try(rw_of(s), path, how ? BT_RW_WRITE : BT_RW_READ, err);
}
static int rw_wait(void *s, const char *path, double seconds) {
    return bt_rw_wait(rw_of(s), path, seconds);
}
static int rw_held(const void *s) { return bt_rw_held(rw_of(s)); }
static void rw_release(void *s, const char *path) {
    (void)path;
    bt_rw_release(rw_of(s));
}
static void rw_end(void *s, const char *path) {
    (void)path;
    bt_rw_free(rw_of(s));
    *(bt_rw **)s = NULL;
}

static const char *const rw_modes[] = {"free", "read", "write"}; /* BT_RW_READ, BT_RW_WRITE */

const bt_kind bt_rw_kind = {"baton.rwlock", "lock file", sizeof(bt_rw *), rw_modes,
                            rw_try, rw_wait, NULL, rw_held,
                            NULL, rw_release, rw_end};

/* ---- semaphore ---- */

static bt_sem *sem_of(const void *s) { return *(bt_sem *const *)s; }

static int sem_try(void *s, const char *path, int how, bt_err *err, const char **named) {
    (void)path;
    (void)how;
    return bt_sem_try(sem_of(s), err, named);
}
static int sem_wait(void *s, const char *path, double seconds) {
    (void)path;
    return bt_sem_wait(sem_of(s), seconds);
}
static int sem_held(const void *s) { return bt_sem_slot(sem_of(s)) > 0; }
static void sem_release(void *s, const char *path) {
    (void)path;
    bt_sem_release(sem_of(s));
}
static void sem_end(void *s, const char *path) {
    (void)path;
    bt_sem_free(sem_of(s));
    *(bt_sem **)s = NULL;
}

const bt_kind bt_semaphore_kind = {"baton.semaphore", "lock file", sizeof(bt_sem *), NULL,
                                   sem_try, sem_wait, NULL, sem_held,
                                   NULL, sem_release, sem_end};
