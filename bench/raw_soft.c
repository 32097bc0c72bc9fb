/* The floor for one uncontended soft lock cycle, in CPU nanoseconds (user + system):
 *   create(O_EXCL)+close+unlink                         an existence lock that writes nothing
 *   create+write+close+unlink                           the same with filelock's owner line
 *   create+fstat+write, flock+lstat+unlink+close        what baton's soft lock did with O_EXCL
 *   tmpfile+write+linkat+fstat, flock+lstat+unlink+close what it did where O_TMPFILE works
 *   the same relative to the folder, opened first and closed last (openat2, O_PATH, no
 *   symbolic links): every call baton's soft lock cycle makes now
 * usage: raw_soft [PATH] [CYCLES]    (cc -O2 bench/raw_soft.c -o raw_soft) */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double cpu_ns(void) { return (double)clock() / CLOCKS_PER_SEC * 1e9; }

static const char OWNER[] = "123456\nsome-host\n4256019925968498127013742606360553941554882220770757578652\n";

static int create(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        perror("create");
        exit(1);
    }
    return fd;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "/tmp/raw_soft.lock";
    long n = argc > 2 ? atol(argv[2]) : 100000;
    struct stat a, b;
    unlink(path);
    double t0 = cpu_ns();
    for (long i = 0; i < n; i++) {
        close(create(path));
        unlink(path);
    }
    double t1 = cpu_ns();
    for (long i = 0; i < n; i++) {
        int fd = create(path);
        if (write(fd, OWNER, strlen(OWNER)) < 0)
            return 1;
        close(fd);
        unlink(path);
    }
    double t2 = cpu_ns();
    for (long i = 0; i < n; i++) {
        int fd = create(path);
        if (fstat(fd, &a) || write(fd, OWNER, strlen(OWNER)) < 0)
            return 1;
        flock(fd, LOCK_EX | LOCK_NB);
        if (lstat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
            unlink(path);
        close(fd);
    }
    double t3 = cpu_ns();
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, "%s", slash ? "/" : ".");
    for (long i = 0; i < n; i++) {
        int fd = open(dir, O_WRONLY | O_TMPFILE | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, OWNER, strlen(OWNER)) < 0) {
            perror("tmpfile");
            return 1;
        }
        if (linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH) != 0) {
            char name[48];
            snprintf(name, sizeof name, "/proc/self/fd/%d", fd);
            if (linkat(AT_FDCWD, name, AT_FDCWD, path, AT_SYMLINK_FOLLOW) != 0) {
                perror("linkat");
                return 1;
            }
        }
        fstat(fd, &a);
        flock(fd, LOCK_EX | LOCK_NB);
        if (lstat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
            unlink(path);
        close(fd);
    }
    double t4 = cpu_ns();
    const char *base = slash ? slash + 1 : path;
    struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
                           .resolve = RESOLVE_NO_SYMLINKS};
    for (long i = 0; i < n; i++) {
        int d = (int)syscall(SYS_openat2, AT_FDCWD, dir, &how, sizeof how);
        int fd = d < 0 ? -1 : openat(d, ".", O_WRONLY | O_TMPFILE | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, OWNER, strlen(OWNER)) < 0 ||
            linkat(fd, "", d, base, AT_EMPTY_PATH) != 0) {
            perror("openat2/tmpfile/linkat");
            return 1;
        }
        fstat(fd, &a);
        flock(fd, LOCK_EX | LOCK_NB);
        if (fstatat(d, base, &b, AT_SYMLINK_NOFOLLOW) == 0 && a.st_ino == b.st_ino &&
            a.st_dev == b.st_dev)
            unlinkat(d, base, 0);
        close(fd);
        close(d);
    }
    double t5 = cpu_ns();
    printf("create_close_unlink_ns %.0f\n", (t1 - t0) / n);
    printf("create_write_close_unlink_ns %.0f\n", (t2 - t1) / n);
    printf("baton_soft_excl_syscalls_ns %.0f\n", (t3 - t2) / n);
    printf("baton_soft_tmpfile_syscalls_ns %.0f\n", (t4 - t3) / n);
    printf("baton_soft_folder_syscalls_ns %.0f\n", (t5 - t4) / n);
    return 0;
}
