/* Contention from C: N processes, each doing K increments of a counter file under one lock.
 * "raw" takes a blocking flock(2) on a freshly opened descriptor and closes it to release:
 * the floor. "core" does the same through baton's C core (src/core/flock_lock.c: the inode
 * re-check, and waiting with a deadline when TIMEOUT is given). Prints the wall time.
 * usage: contend MODE LOCKPATH COUNTERPATH N K [TIMEOUT]   (MODE: raw | core) */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

#include "../src/core/clock.h"
#include "../src/core/flock_lock.h"

static void increment(const char *counter) {
    char buf[32] = {0};
    int fd = open(counter, O_RDWR | O_CLOEXEC);
    if (fd < 0 || read(fd, buf, sizeof buf - 1) < 0) {
        perror(counter);
        exit(1);
    }
    int len = snprintf(buf, sizeof buf, "%ld", atol(buf) + 1);
    if (pwrite(fd, buf, (size_t)len, 0) != len) {
        perror(counter);
        exit(1);
    }
    close(fd);
}

static void raw_cycle(const char *lock, const char *counter) {
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0 || flock(fd, LOCK_EX) != 0) {
        perror(lock);
        _exit(1);
    }
    increment(counter);
    flock(fd, LOCK_UN);
    close(fd);
}

/* As lua/baton/wait.lua does: without a deadline the kernel's queue; with one, attempts
 * paced by the release watch. */
static void core_cycle(const char *lock, const char *counter, double timeout) {
    bt_flock l;
    bt_err err;
    bt_flock_init(&l, 0, 0666, 1);
    int rc;
    if (timeout < 0) {
        while ((rc = bt_flock_block(&l, lock, &err)) == BT_BUSY) {
        }
    } else {
        rc = bt_flock_try(&l, lock, &err);
    }
    for (double pause = 0.0005, deadline = bt_now() + timeout; rc == BT_BUSY && bt_now() < deadline;) {
        int woken = bt_flock_wait(&l, lock, pause);
        if (!woken && pause < 0.01)
            pause *= 2;
        rc = bt_flock_try(&l, lock, &err);
    }
    if (rc != BT_OK) {
        fprintf(stderr, "%s: %s\n", lock, rc == BT_BUSY ? "timed out" : strerror(err.code));
        _exit(1);
    }
    increment(counter);
    bt_flock_release(&l);
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: contend raw|core LOCKPATH COUNTERPATH N K [TIMEOUT]\n");
        return 64;
    }
    int core = strcmp(argv[1], "core") == 0;
    argv++;
    int n = atoi(argv[3]), k = atoi(argv[4]);
    double timeout = argc > 6 ? atof(argv[5]) : -1;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < n; i++) {
        if (fork() == 0) {
            for (int j = 0; j < k; j++) {
                if (core)
                    core_cycle(argv[1], argv[2], timeout);
                else
                    raw_cycle(argv[1], argv[2]);
            }
            _exit(0);
        }
    }
    while (wait(NULL) > 0) {
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("seconds %.3f\n", (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
    return 0;
}
