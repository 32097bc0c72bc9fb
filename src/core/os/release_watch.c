#define _GNU_SOURCE
#include "release_watch.h"

#include <unistd.h>

#ifdef __linux__
#include <poll.h>
#include <stdatomic.h>
#include <time.h>
#include <sys/inotify.h>

#include "../pid.h"

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

int bt_notify_wait(int fd, double seconds) {
    if (!(seconds > 0))
        seconds = 0;
    if (seconds > 1e6)
        seconds = 1e6;
    struct timespec ts;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    struct pollfd pfd = {fd, POLLIN, 0};
    if (ppoll(&pfd, 1, &ts, NULL) <= 0)
        return 0;
    int woken = 1;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            if (ev->mask & BT_NOTIFY_REPLACED)
                woken = 2;
            p += sizeof *ev + ev->len;
        }
    }
    return woken;
}

#else
int bt_notify_take(void) { return -1; }
int bt_notify_wait(int fd, double seconds) {
    (void)fd;
    (void)seconds;
    return 0;
}
void bt_notify_give(int fd) { (void)fd; }
#endif
