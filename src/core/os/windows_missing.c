/* The read/write and semaphore kinds' operations on Windows, where neither is built yet:
 * lock_kinds.c names them, and no handle of theirs is ever made (their constructors in
 * src/lua/windows.c raise "... is not available on Windows yet"). Each fails as a call the
 * system does not have would. */
#include <errno.h>

#include "../rw_lock.h"
#include "../semaphore.h"

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
