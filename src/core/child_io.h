/* Descriptors for talking to child processes: pipes, files to redirect to, reads and writes
 * that never block the caller, and a bounded poll. Every descriptor made here is close-on-exec
 * and numbered 3 or above, so a child only ever gets what it is handed explicitly. */
#ifndef BT_FDIO_H
#define BT_FDIO_H

#include <poll.h>
#include <sys/types.h>

#include "errors.h"

/* fds[0] reads, fds[1] writes. BT_OK or BT_FAIL. */
int bt_pipe(int fds[2], bt_err *err);

enum { BT_OPEN_READ, BT_OPEN_WRITE, BT_OPEN_APPEND };

/* Open `path` for a child's standard stream (write: create and truncate). The descriptor, or
 * -1 with *err filled in. */
int bt_open_stream(const char *path, int how, bt_err *err);

/* Make reads and writes on fd return EAGAIN instead of blocking. 0, or -1 with errno set. */
int bt_set_nonblock(int fd);

/* read(2)/write(2), retried on EINTR is the caller's business. A write to a pipe whose
 * reader is gone fails with EPIPE instead of killing the process with SIGPIPE. */
ssize_t bt_read(int fd, void *buf, size_t len);
ssize_t bt_write(int fd, const void *buf, size_t len);

/* poll(2) for up to `seconds` (negative: no limit). The number of ready descriptors, 0 on
 * timeout, -1 with errno set (EINTR when a signal came first). */
int bt_poll(struct pollfd *fds, nfds_t n, double seconds);

/* Close fd, keeping errno. */
void bt_close(int fd);

#endif
