/* The read/write, semaphore and soft read/write kinds' operations on Windows, where none is
 * built yet: lock_kinds.c and src/lua/soft_kinds.c name them. No read/write or semaphore
 * handle is ever made (their constructors in src/lua/windows.c raise "... is not available
 * on Windows yet"); a soft read/write lock's attempt fails so. Each fails as a call the
 * system does not have would. */
#include <errno.h>

#include "../rw_lock.h"
#include "../semaphore.h"
#include "../soft_rw.h"

int bt_rw_try(bt_rw *l, const char *path, int how, bt_err *err) {
    (void)l;
    (void)path;
    (void)how;
    return bt_fail(err, "lock", ENOSYS, "read/write locks are not available on Windows yet");
}

int bt_rw_wait(bt_rw *l, const char *path, double seconds) {
    (void)l;
    (void)path;
    (void)seconds;
    return 0;
}

int bt_rw_held(const bt_rw *l) {
    (void)l;
    return 0;
}

void bt_rw_release(bt_rw *l) { (void)l; }

void bt_rw_free(bt_rw *l) { (void)l; }

int bt_sem_try(bt_sem *s, bt_err *err, const char **failed) {
    (void)s;
    *failed = "";
    return bt_fail(err, "lock", ENOSYS, "semaphores are not available on Windows yet");
}

int bt_sem_wait(bt_sem *s, double seconds) {
    (void)s;
    (void)seconds;
    return 0;
}

int bt_sem_slot(const bt_sem *s) {
    (void)s;
    return 0;
}

void bt_sem_release(bt_sem *s) { (void)s; }

void bt_sem_free(bt_sem *s) { (void)s; }

void bt_softrw_init(bt_softrw *l, int make_parents, double every, double stale) {
    (void)make_parents;
    (void)every;
    (void)stale;
    l->held = 0;
}

void bt_softrw_abandon(bt_softrw *l, const char *path) {
    (void)l;
    (void)path;
}

int bt_softrw_lost(const bt_softrw *l, char *why, size_t cap, const char **reason) {
    (void)l;
    (void)why;
    (void)cap;
    (void)reason;
    return 0;
}

int bt_softrw_lostfd(const bt_softrw *l) {
    (void)l;
    return -1;
}

/* None is looked for: soft read/write locks are not built here. */
int bt_softrw_markers(const char *path, bt_softrw_marker *out, int max) {
    (void)path;
    (void)out;
    (void)max;
    return 0;
}

static int softrw_try(void *s, const char *path, int how, bt_err *err, const char **named) {
    (void)s;
    (void)how;
    *named = path;
    return bt_fail(err, "lock", ENOSYS, "soft read/write locks are not available on Windows yet");
}

static int softrw_held(const void *s) {
    (void)s;
    return 0;
}

static void softrw_release(void *s, const char *path) {
    (void)s;
    (void)path;
}

const bt_kind bt_softrw_kind = {"baton.soft_rw", "soft read/write lock", sizeof(bt_softrw),
                                NULL, softrw_try, bt_kind_pause, NULL, softrw_held,
                                NULL, softrw_release, softrw_release};
