#define _GNU_SOURCE
#include "openers.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../pid.h"

static long parse_pid(const char *s) {
    long v = 0;
    if (!*s)
        return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 400000000L)
            return 0;
        v = v * 10 + (*s - '0');
    }
    return v;
}

/* 1 when the descriptor `name` of the process whose /proc folder is `proc_fd` is open for
 * writing only (the "flags:" line of its fdinfo, in octal). */
static int write_only(int proc_fd, const char *name) {
    char path[64], buf[256];
    if (snprintf(path, sizeof path, "fdinfo/%s", name) >= (int)sizeof path)
        return 0;
    int fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *flags = strstr(buf, "flags:");
    if (!flags)
        return 0;
    unsigned long v = strtoul(flags + 6, NULL, 8);
    return (v & O_ACCMODE) == O_WRONLY;
}

/* 1 when some descriptor of the process whose /proc folder is `proc_fd` is the file (open
 * for writing only, when `writers`). */
static int has_open(int proc_fd, dev_t dev, ino_t ino, int writers) {
    int fds = openat(proc_fd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fds < 0)
        return 0; /* gone, or not ours to look at */
    DIR *d = fdopendir(fds);
    if (!d) {
        close(fds);
        return 0;
    }
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        /* stat follows the descriptor's link to the open file, even an unlinked one */
        if (fstatat(dirfd(d), e->d_name, &st, 0) == 0 && st.st_ino == ino && st.st_dev == dev)
            found = !writers || write_only(proc_fd, e->d_name);
    }
    closedir(d);
    return found;
}

int bt_has_open(pid_t pid, dev_t dev, ino_t ino) {
    char path[32];
    snprintf(path, sizeof path, "/proc/%ld", (long)pid);
    int pfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0)
        return 0;
    int found = has_open(pfd, dev, ino, 0);
    close(pfd);
    return found;
}

static long openers(dev_t dev, ino_t ino, uid_t uid, int writers, pid_t *pids, size_t max) {
    DIR *proc = opendir("/proc");
    if (!proc)
        return -1;
    long total = 0;
    pid_t self = bt_pid();
    struct dirent *e;
    while ((e = readdir(proc)) != NULL) {
        long pid = parse_pid(e->d_name);
        if (pid <= 0 || pid == (long)self)
            continue;
        int pfd = openat(dirfd(proc), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd < 0)
            continue;
        struct stat st;
        int mine = fstat(pfd, &st) == 0 && (uid == (uid_t)-1 || st.st_uid == uid);
        if (mine && has_open(pfd, dev, ino, writers)) {
            if ((size_t)total < max)
                pids[total] = (pid_t)pid;
            total++;
        }
        close(pfd);
    }
    closedir(proc);
    return total;
}

long bt_openers(dev_t dev, ino_t ino, uid_t uid, pid_t *pids, size_t max) {
    return openers(dev, ino, uid, 0, pids, max);
}

long bt_writers(dev_t dev, ino_t ino, uid_t uid, pid_t *pids, size_t max) {
    return openers(dev, ino, uid, 1, pids, max);
}
