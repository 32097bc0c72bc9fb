/* The operations table (lock_kind.h) of each kind: flock, soft, read/write and semaphore. */
#include "lock_kind.h"

#include "clock.h"
#include "flock_lock.h"
#include "holder_records.h"
#include "rw_lock.h"
#include "semaphore.h"
#include "soft_lock.h"

int bt_kind_pause(void *state, const char *path, double seconds) {
    (void)state;
    (void)path;
    bt_sleep(seconds);
    return 0;
}

/* ---- flock and soft ---- */

/* The operations flock and soft locks have alike: one attempt on the path (whatever the
 * mode asked), a bounded wait, the descriptor to poll, whether held, the holder's record. */
#define PATH_LOCK_OPS(k)                                                                       \
    static int k##_try(void *s, const char *path, int how, bt_err *err, const char **named) {  \
        (void)how;                                                                             \
        *named = path;                                                                         \
        return bt_##k##_try(s, path, err);                                                     \
    }                                                                                          \
    static int k##_wait(void *s, const char *path, double seconds) {                           \
        return bt_##k##_wait(s, path, seconds);                                                \
    }                                                                                          \
    static int k##_pollfd(const void *s) { return bt_##k##_pollfd(s); }                        \
    static int k##_held(const void *s) { return bt_##k##_held(s); }                            \
    static void k##_record(void *s, const char *note, size_t len) { bt_##k##_record(s, note, len); }

PATH_LOCK_OPS(flock)
PATH_LOCK_OPS(soft)

/* The holder record goes first, never outliving the lock (a backend's release may leave it). */
static void flock_release(void *s, const char *path) {
    (void)path;
    bt_flock *l = s;
    bt_record_drop(l->record);
    l->record = -1;
    bt_flock_release(l);
}

const bt_kind bt_flock_kind = {"baton.flock", "lock file", sizeof(bt_flock), NULL,
                               flock_try, flock_wait, flock_pollfd, flock_held,
                               flock_record, flock_release, flock_release};

static void soft_release(void *s, const char *path) { bt_soft_release(s, path); }

const bt_kind bt_soft_kind = {"baton.soft", "soft lock", sizeof(bt_soft), NULL,
                              soft_try, soft_wait, soft_pollfd, soft_held,
                              soft_record, soft_release, soft_release};

/* Release and end for a kind whose state is a pointer to its own (k##_of reads it): the
 * release lets go, the end frees it (T##_free) and forgets it. */
#define BOXED_RELEASE_END(k, T)                                                                \
    static void k##_release(void *s, const char *path) {                                       \
        (void)path;                                                                            \
        T##_release(k##_of(s));                                                                \
    }                                                                                          \
    static void k##_end(void *s, const char *path) {                                           \
        (void)path;                                                                            \
        T##_free(k##_of(s));                                                                   \
        *(T **)s = NULL;                                                                       \
    }

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
BOXED_RELEASE_END(rw, bt_rw)

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
BOXED_RELEASE_END(sem, bt_sem)

const bt_kind bt_semaphore_kind = {"baton.semaphore", "lock file", sizeof(bt_sem *), NULL,
                                   sem_try, sem_wait, NULL, sem_held,
                                   NULL, sem_release, sem_end};
