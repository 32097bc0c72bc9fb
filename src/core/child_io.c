/* Pipes, redirections and non-blocking reads and writes for child processes (child_io.h). */
#define _GNU_SOURCE
#include "child_io.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "os/os.h"

void bt_close(int fd) {
    int saved = errno;
    if (fd >= 0)
        close(fd);
    errno = saved;
}

/* Move fd to 3 or above: a parent that runs with 0, 1 or 2 closed must not hand a child our
 * pipe where it expects its standard streams. */
static int above_stdio(int fd) {
    if (fd < 0 || fd > 2)
        return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    bt_close(fd);
    return moved;
}

int bt_pipe(int fds[2], bt_err *err) {
    if (bt_os_pipe(fds) != 0)
        return bt_fail(err, "make a pipe", errno, NULL);
    fds[0] = above_stdio(fds[0]);
    fds[1] = above_stdio(fds[1]);
    if (fds[0] < 0 || fds[1] < 0) {
        int saved = errno;
        bt_close(fds[0]);
        bt_close(fds[1]);
        errno = saved;
        return bt_fail(err, "make a pipe", errno, NULL);
    }
    return BT_OK;
}

int bt_open_stream(const char *path, int how, bt_err *err) {
    int flags = O_CLOEXEC | O_NOCTTY;
    if (how == BT_OPEN_READ)
        flags |= O_RDONLY;
    else if (how == BT_OPEN_APPEND)
        flags |= O_WRONLY | O_CREAT | O_APPEND;
    else
        flags |= O_WRONLY | O_CREAT | O_TRUNC;
    int fd = above_stdio(open(path, flags, 0666));
    if (fd < 0) {
        bt_fail(err, "open", errno, NULL);
        return -1;
    }
    return fd;
}

int bt_set_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -1;
    return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

ssize_t bt_read(int fd, void *buf, size_t len) { return read(fd, buf, len); }

/* SIGPIPE is blocked around the write; one it raised is taken back out of the pending set
 * unless it was already pending before (then it belongs to someone else). */
ssize_t bt_write(int fd, const void *buf, size_t len) {
    sigset_t pipe_only, old, pending;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    sigprocmask(SIG_BLOCK, &pipe_only, &old);
    ssize_t n = write(fd, buf, len);
    int saved = errno;
    if (n < 0 && saved == EPIPE && !was_pending) {
        sigset_t now;
        int sig;
        if (sigpending(&now) == 0 && sigismember(&now, SIGPIPE))
            sigwait(&pipe_only, &sig); /* pending and blocked: returns at once */
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return n;
}

int bt_poll(struct pollfd *fds, nfds_t n, double seconds) {
    return bt_os_poll(fds, (unsigned)n, seconds);
}
