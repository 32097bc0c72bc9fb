#define _GNU_SOURCE
#include "bt_etcd_fds.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Call fn(fd, ud) for every open descriptor below BT_FDS_TRACKED. */
static void each_fd(void (*fn)(int, void *), void *ud) {
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    int own = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end == '\0' && end != e->d_name && fd >= 0 && fd < BT_FDS_TRACKED && fd != own)
            fn((int)fd, ud);
    }
    closedir(d);
}

static void mark(int fd, void *ud) {
    bt_fds *s = ud;
    s->open[fd / 8] |= (unsigned char)(1u << (fd % 8));
}

void bt_fds_note(bt_fds *before) {
    memset(before, 0, sizeof *before);
    each_fd(mark, before);
}

static void seal(int fd, void *ud) {
    const bt_fds *before = ud;
    if (before->open[fd / 8] & (1u << (fd % 8)))
        return;
    int flags = fcntl(fd, F_GETFD);
    int domain = 0;
    socklen_t len = sizeof domain;
    if (flags < 0 || (flags & FD_CLOEXEC) ||
        getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || domain != AF_UNIX)
        return;
    fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

void bt_fds_seal(const bt_fds *before) { each_fd(seal, (void *)before); }
