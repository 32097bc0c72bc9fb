#define _GNU_SOURCE
#include "bt_notify.h"

#include <unistd.h>

#ifdef __linux__
#include <stdatomic.h>
#include <sys/inotify.h>

#include "bt_pid.h"

#define POOL_SIZE 4

static _Atomic int pool[POOL_SIZE] = {-1, -1, -1, -1};
/* The process the pooled descriptors belong to: a forked child shares its parent's
 * instances and must not read events meant for the parent. */
static _Atomic pid_t pool_owner;

static void forget_if_forked(void) {
    pid_t me = bt_pid(), owner = atomic_load(&pool_owner);
    if (owner == me)
        return;
    if (atomic_compare_exchange_strong(&pool_owner, &owner, me) && owner != 0) {
        /* The parent's instances stay open in the parent; closing our copies is cheap. */
        for (int i = 0; i < POOL_SIZE; i++) {
            int fd = atomic_exchange(&pool[i], -1);
            if (fd >= 0)
                close(fd);
        }
    }
}

static void drain(int fd) {
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    while (read(fd, buf, sizeof buf) > 0) {
    }
}

int bt_notify_take(void) {
    forget_if_forked();
    for (int i = 0; i < POOL_SIZE; i++) {
        int fd = atomic_exchange(&pool[i], -1);
        if (fd >= 0) {
            drain(fd); /* the IN_IGNORED of watches removed before it was given back */
            return fd;
        }
    }
    return inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
}

void bt_notify_give(int fd) {
    if (fd < 0)
        return;
    forget_if_forked();
    for (int i = 0; i < POOL_SIZE; i++) {
        int empty = -1;
        if (atomic_compare_exchange_strong(&pool[i], &empty, fd))
            return;
    }
    close(fd);
}

#else
int bt_notify_take(void) { return -1; }
void bt_notify_give(int fd) { (void)fd; }
#endif
