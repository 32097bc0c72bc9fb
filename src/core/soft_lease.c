/* The heartbeat of a soft lease (soft_lease.h). The thread owns nothing the lock's release
 * closes: the release stops and joins it before closing the marker. Between refreshes it
 * waits in poll(2) on the signal pipe, whose timeout counts on every system's monotonic
 * clock; the stop writes into that pipe (the thread writes into it only as it ends). */
#define _GNU_SOURCE
#include "soft_lease.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "os/os.h"
#include "pid.h"
#include "thread.h"

struct bt_beat {
    pthread_t thread;
    pthread_mutex_t mu;
    pid_t owner;        /* the process whose thread this is; 0: none was started */
    int stop;           /* under mu */
    int lost;           /* under mu */
    const char *reason;
    char why[512];
    int dir, fd;
    dev_t dev;
    ino_t ino;
    double lease, every;
    int signal[2];      /* a pipe: readable once lost, or once told to stop */
    char *where;        /* name in dir, or the whole path */
};

/* Under mu. */
static void mark_lost(bt_beat *b, const char *reason, const char *what, int code) {
    b->lost = 1;
    b->reason = reason;
    if (code)
        snprintf(b->why, sizeof b->why, "%s: %s (%s)", what, strerror(code), reason);
    else
        snprintf(b->why, sizeof b->why, "%s (%s)", what, reason);
    char one = 1;
    ssize_t w = write(b->signal[1], &one, 1);
    (void)w; /* a full pipe is readable already */
}

/* One refresh: is the path still our marker? Then touch it through our descriptor. */
static int refresh(bt_beat *b, int *code) {
    struct stat st;
    if (fstatat(b->dir >= 0 ? b->dir : AT_FDCWD, b->where, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        *code = errno;
        return errno == ENOENT ? BT_BEAT_MISSING : BT_BEAT_TRANSIENT;
    }
    if (st.st_dev != b->dev || st.st_ino != b->ino) {
        *code = 0;
        return BT_BEAT_CHANGED;
    }
    if (futimens(b->fd, NULL) != 0) {
        *code = errno;
        return BT_BEAT_TRANSIENT;
    }
    return BT_BEAT_OK;
}

/* Until bt_now() reaches `when`: 1 when told to stop meanwhile (the pipe became readable:
 * the thread itself writes into it only as it ends). */
static int wait_until(bt_beat *b, double when) {
    struct pollfd p = {b->signal[0], POLLIN, 0};
    double left = when - bt_now();
    if (!(left > 0))
        return 0;
    int n = bt_os_poll(&p, 1, left);
    if (n < 0 && errno != EINTR)
        bt_sleep(left); /* cannot poll: wait out the time */
    return n > 0;
}

/* Under mu: what a refresh found; 1 when the heartbeat ends. */
static int judge(bt_beat *b, int r, int code, double now, double *last_ok) {
    const char *what, *reason = bt_beat_verdict(r, now, last_ok, b->lease, b->every, &what);
    if (reason)
        mark_lost(b, reason, what, r == BT_BEAT_TRANSIENT ? code : 0);
    return reason != NULL;
}

static void *beat(void *arg) {
    bt_beat *b = arg;
    double last_ok = bt_now(), next = last_ok + b->every;
    for (;;) {
        if (bt_now() < next) {
            if (wait_until(b, next))
                break;
            continue;
        }
        int code = 0;
        int r = refresh(b, &code);
        double now = bt_now();
        pthread_mutex_lock(&b->mu);
        int end = b->stop || judge(b, r, code, now, &last_ok);
        pthread_mutex_unlock(&b->mu);
        if (end)
            break;
        next = now + b->every;
    }
    return NULL;
}

static void free_beat(bt_beat *b, int sync) {
    if (sync)
        pthread_mutex_destroy(&b->mu);
    close(b->signal[0]);
    close(b->signal[1]);
    free(b->where);
    free(b);
}

static int set_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

/* The signal pipe: close-on-exec, and never blocking its writers (a full pipe is readable). */
static int open_signal(int fds[2]) {
    if (bt_os_pipe(fds) != 0)
        return -1;
    if (set_nonblock(fds[0]) && set_nonblock(fds[1]))
        return 0;
    int saved = errno;
    close(fds[0]);
    close(fds[1]);
    errno = saved;
    return -1;
}

bt_beat *bt_beat_start(int dir, const char *path, const char *name, int fd, dev_t dev,
                       ino_t ino, double lease, double every) {
    bt_beat *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->where = strdup(dir >= 0 ? name : path);
    if (!b->where || open_signal(b->signal) != 0) {
        free(b->where);
        free(b);
        return NULL;
    }
    int rc = pthread_mutex_init(&b->mu, NULL);
    if (rc != 0) {
        free_beat(b, 0);
        errno = rc;
        return NULL;
    }
    b->dir = dir;
    b->fd = fd;
    b->dev = dev;
    b->ino = ino;
    b->lease = lease;
    b->every = every;
    if ((rc = bt_thread_start(&b->thread, beat, b)) != 0) {
        free_beat(b, 1);
        errno = rc;
        return NULL;
    }
    b->owner = bt_pid();
    return b;
}

int bt_beat_lost(bt_beat *b, char *why, size_t cap, const char **reason) {
    if (!b || b->owner != bt_pid())
        return 0;
    pthread_mutex_lock(&b->mu);
    int lost = b->lost;
    if (lost) {
        snprintf(why, cap, "%s", b->why);
        if (reason)
            *reason = b->reason;
    }
    pthread_mutex_unlock(&b->mu);
    return lost;
}

int bt_beat_fd(const bt_beat *b) { return b && b->owner == bt_pid() ? b->signal[0] : -1; }

void bt_beat_stop(bt_beat *b) {
    if (!b)
        return;
    if (b->owner != bt_pid()) {
        /* a forked child's copy: the thread is the parent's, and so may be the mutex */
        free_beat(b, 0);
        return;
    }
    pthread_mutex_lock(&b->mu);
    b->stop = 1;
    pthread_mutex_unlock(&b->mu);
    char one = 1;
    ssize_t w = write(b->signal[1], &one, 1);
    (void)w; /* a full pipe is readable already */
    pthread_join(b->thread, NULL);
    free_beat(b, 1);
}
