#define _GNU_SOURCE
#include "bt_notify.h"

#include <unistd.h>

#ifdef __linux__
#include <sys/inotify.h>

#include "bt_pid.h"

#define POOL 4

static int pool[POOL] = {-1, -1, -1, -1};
static pid_t pool_pid; /* a forked child must not share its parent's instances */

/* Slots are swapped atomically: Lua states on other threads may take and give too. */
static int swap(int i, int fd) { return __atomic_exchange_n(&pool[i], fd, __ATOMIC_ACQ_REL); }

static void leave_parent_pool(void) {
    pid_t me = bt_pid();
    pid_t was = __atomic_exchange_n(&pool_pid, me, __ATOMIC_ACQ_REL);
    if (was == me || was == 0)
        return;
    for (int i = 0; i < POOL; i++) {
        int fd = swap(i, -1);
        if (fd >= 0)
            close(fd); /* our copy only: cheap, the parent keeps its instance */
    }
}

int bt_notify_take(void) {
    leave_parent_pool();
    for (int i = 0; i < POOL; i++) {
        int fd = swap(i, -1);
        if (fd < 0)
            continue;
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        while (read(fd, buf, sizeof buf) > 0) {
            /* the IN_IGNORED events of the watches removed before it came back */
        }
        return fd;
    }
    return inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
}

void bt_notify_give(int fd) {
    if (fd < 0)
        return;
    leave_parent_pool();
    for (int i = 0; i < POOL; i++) {
        int empty = -1;
        if (__atomic_compare_exchange_n(&pool[i], &empty, fd, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            return;
    }
    close(fd);
}

#else
int bt_notify_take(void) { return -1; }
void bt_notify_give(int fd) { (void)fd; }
#endif
