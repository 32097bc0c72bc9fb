/* The Linux side of the platform seam (os.h): release watches on inotify, process identity
 * from /proc/PID/stat and the boot id, holders from /proc/locks and /proc/PID/fd. */
#define _GNU_SOURCE
#include "os.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "../clock.h"
#include "../pid.h"
#include "linux_text.h"

/* ---- release watches: inotify ---------------------------------------------------------- */

/* Closing an inotify instance can take the kernel milliseconds (it waits for its marks to be
 * torn down), far longer than a hand-off should, while adding and removing watches on a kept
 * instance costs microseconds: instances are kept in a small per-process pool. */
#define POOL_SIZE 4

static _Atomic int pool[POOL_SIZE] = {-1, -1, -1, -1};
/* The process the pooled descriptors belong to: a forked child shares its parent's
 * instances and must not read events meant for the parent. */
static _Atomic pid_t pool_owner;

/* A lock file: a holder's close may end its lock; a rename, unlink or link-count change
 * means the path may now name another file, to be opened anew. */
#define FILE_EVENTS (IN_CLOSE_WRITE | IN_CLOSE_NOWRITE | IN_ATTRIB | IN_DELETE_SELF | \
                     IN_MOVE_SELF | IN_DONT_FOLLOW)
/* A soft marker's folder: the marker leaving it, or the folder itself going away. */
#define FOLDER_EVENTS (IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
#define REPLACED (IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)

static void forget_pool_if_forked(void) {
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

/* Read and drop every pending event. */
static void drain(int fd) {
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    while (read(fd, buf, sizeof buf) > 0) {
    }
}

/* An instance with no pending events, or -1 when out of instances. */
static int take_instance(void) {
    forget_pool_if_forked();
    for (int i = 0; i < POOL_SIZE; i++) {
        int fd = atomic_exchange(&pool[i], -1);
        if (fd >= 0) {
            drain(fd); /* the IN_IGNORED of watches removed before it was given back */
            return fd;
        }
    }
    return inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
}

/* Give back an instance whose watches have been removed. */
static void give_instance(int fd) {
    forget_pool_if_forked();
    for (int i = 0; i < POOL_SIZE; i++) {
        int empty = -1;
        if (atomic_compare_exchange_strong(&pool[i], &empty, fd))
            return;
    }
    close(fd);
}

/* Stop watching; the instance goes back to the pool when `keep`, else it is closed. */
static void stop(bt_watch *w, int keep) {
    if (w->fd < 0)
        return;
    int mine = w->owner == bt_pid();
    for (int i = 0; i < w->n; i++) {
        if (w->wd[i] >= 0 && mine)
            inotify_rm_watch(w->fd, w->wd[i]);
        w->wd[i] = -1;
    }
    if (mine && keep)
        give_instance(w->fd);
    else
        close(w->fd); /* a forked child's copy: the parent may still wait on the instance */
    w->fd = -1;
}

void bt_watch_stop(bt_watch *w) { stop(w, 1); }

void bt_watch_close(bt_watch *w) { stop(w, 0); }

/* Point watch i at what is now at `path` (nothing there gets no watch). 1 while at least one
 * path is watched; else the watch is stopped and 0 returned. */
static int point(bt_watch *w, int i, const char *path) {
    if (w->wd[i] >= 0)
        inotify_rm_watch(w->fd, w->wd[i]);
    w->wd[i] = inotify_add_watch(w->fd, path, w->folder ? FOLDER_EVENTS : FILE_EVENTS);
    for (int k = 0; k < w->n; k++)
        if (w->wd[k] >= 0)
            return 1;
    bt_watch_stop(w);
    return 0;
}

int bt_watch_retarget(bt_watch *w, int i, const char *path) {
    if (w->fd < 0 || w->owner != bt_pid())
        return 0;
    return point(w, i, path);
}

static int arm(bt_watch *w, const char *const *paths, int folder) {
    w->fd = take_instance();
    if (w->fd < 0)
        return 0;
    w->owner = bt_pid();
    w->folder = folder;
    int any = 0;
    for (int i = 0; i < w->n; i++)
        any = point(w, i, paths[i]) || any;
    return any && w->fd >= 0;
}

/* Read every pending event: BT_WOKE_NOTHING when none concerns us (a folder's other
 * entries), BT_WOKE_REPLACED when a watched file or folder was replaced or removed, else
 * BT_WOKE_EVENT. */
static int read_events(bt_watch *w, const char *entry) {
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;
    int woke = BT_WOKE_NOTHING;
    while ((n = read(w->fd, buf, sizeof buf)) > 0) {
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            if (ev->mask & REPLACED)
                woke = BT_WOKE_REPLACED;
            else if (woke == BT_WOKE_NOTHING &&
                     (!w->folder || (ev->len && strcmp(ev->name, entry) == 0)))
                woke = BT_WOKE_EVENT;
            p += sizeof *ev + ev->len;
        }
    }
    return woke;
}

int bt_watch_wait(bt_watch *w, const char *const *paths, int folder, const char *entry,
                  double seconds) {
    if (w->fd >= 0 && w->owner != bt_pid())
        bt_watch_stop(w); /* inherited through fork(): its events are the parent's to read */
    if (w->fd < 0) {
        if (arm(w, paths, folder))
            return BT_WOKE_ARMED;
        bt_sleep(seconds);
        return BT_WOKE_NOTHING;
    }
    if (!(seconds > 0))
        seconds = 0;
    if (seconds > 1e6)
        seconds = 1e6;
    double deadline = bt_now() + seconds;
    for (;;) {
        double left = deadline - bt_now();
        if (left < 0)
            left = 0;
        struct timespec ts;
        ts.tv_sec = (time_t)left;
        ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
        struct pollfd pfd = {w->fd, POLLIN, 0};
        if (ppoll(&pfd, 1, &ts, NULL) <= 0)
            return BT_WOKE_NOTHING;
        int woke = read_events(w, entry);
        if (woke == BT_WOKE_REPLACED) {
            if (w->folder)
                bt_watch_stop(w); /* armed again on the next wait */
            else
                for (int i = 0; i < w->n && w->fd >= 0; i++)
                    point(w, i, paths[i]); /* watch whatever is at the paths now */
        }
        if (woke != BT_WOKE_NOTHING)
            return woke;
    }
}

int bt_watch_fd(const bt_watch *w) { return w->fd; }

/* ---- who has a file open: /proc/PID/fd ------------------------------------------------- */

static long pid_of_name(const char *s) {
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

static ssize_t read_text(int dir, const char *path, char *buf, size_t cap);

/* 1 when the descriptor `name` of the process whose /proc folder is `proc_fd` is open for
 * writing only (the "flags:" line of its fdinfo, in octal). */
static int write_only(int proc_fd, const char *name) {
    char path[64], buf[256];
    if (snprintf(path, sizeof path, "fdinfo/%s", name) >= (int)sizeof path)
        return 0;
    if (read_text(proc_fd, path, buf, sizeof buf) <= 0)
        return 0;
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
        long pid = pid_of_name(e->d_name);
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

/* ---- process identity: /proc/PID/stat, /proc/stat, the boot id ----------------------- */

/* Read from fd into buf[*n .. cap) until it is full or the file ends, through EINTR:
 * 1 at the end of the file, 0 when full, -1 with errno. */
static int read_into(int fd, char *buf, size_t cap, size_t *n) {
    while (*n < cap) {
        ssize_t r = read(fd, buf + *n, cap - *n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            return 1;
        *n += (size_t)r;
    }
    return 0;
}

/* Read a small file whole (`path` relative to the folder `dir`, or AT_FDCWD). Returns the
 * length, or -1 with errno set. */
static ssize_t read_at(int dir, const char *path, char *buf, size_t cap) {
    int fd = openat(dir, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -1;
    size_t n = 0;
    int r = read_into(fd, buf, cap, &n);
    int saved = errno;
    close(fd);
    errno = saved;
    return r < 0 ? -1 : (ssize_t)n;
}

static ssize_t read_small(const char *path, char *buf, size_t cap) {
    return read_at(AT_FDCWD, path, buf, cap);
}

/* As read_at, as text: at most cap - 1 bytes, and a NUL after them. */
static ssize_t read_text(int dir, const char *path, char *buf, size_t cap) {
    ssize_t n = read_at(dir, path, buf, cap - 1);
    if (n >= 0)
        buf[n] = '\0';
    return n;
}

int bt_boot_id(uint32_t out[4]) {
    static uint32_t cached[4];
    static volatile int state; /* 0 unknown, 1 read, -1 unavailable: a boot id never changes */
    if (state == 0) {
        char buf[128];
        ssize_t n = read_small("/proc/sys/kernel/random/boot_id", buf, sizeof buf);
        uint32_t w[4];
        if (n > 0 && bt_boot_parse(buf, (size_t)n, w) == 0) {
            memcpy(cached, w, sizeof w);
            state = 1;
        } else {
            state = -1;
        }
    }
    if (state < 0)
        return -1;
    memcpy(out, cached, sizeof cached);
    return 0;
}

int bt_proc_stat(pid_t pid, bt_stat *out) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    ssize_t n = read_small(path, buf, sizeof buf);
    if (n < 0)
        return -1;
    if (bt_stat_parse(buf, (size_t)n, out) != 0) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

size_t bt_proc_token(pid_t pid, char out[BT_TOKEN_LEN], int *dead) {
    bt_stat st;
    *dead = 0;
    out[0] = '\0';
    if (bt_proc_stat(pid, &st) != 0)
        return 0;
    *dead = st.state == 'Z' || st.state == 'X';
    uint32_t boot[4];
    if (bt_boot_id(boot) != 0)
        return 0; /* a token without the boot id would not match filelock's */
    return bt_token_format(boot, st.starttime, out);
}

size_t bt_proc_cmdline(pid_t pid, char *buf, size_t cap) {
    char path[64];
    if (cap == 0)
        return 0;
    snprintf(path, sizeof path, "/proc/%ld/cmdline", (long)pid);
    ssize_t n = read_small(path, buf, cap - 1);
    if (n <= 0) {
        buf[0] = '\0';
        return 0;
    }
    return bt_cmdline_join(buf, (size_t)n);
}

/* The boot time in seconds since the epoch, or -1; read once. /proc/stat is read whole: its
 * "intr" line, which comes before "btime", runs to tens of kilobytes on machines with many
 * interrupt lines. */
static double boot_time(void) {
    static double cached = -2;
    if (cached > -2)
        return cached;
    double t = -1;
    int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        size_t cap = 16384, n = 0;
        char *buf = malloc(cap);
        while (buf) {
            if (n == cap) {
                char *bigger = cap < ((size_t)1 << 24) ? realloc(buf, cap * 2) : NULL;
                if (!bigger)
                    break; /* look in what was read */
                buf = bigger;
                cap *= 2;
            }
            ssize_t r = read(fd, buf + n, cap - n);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            n += (size_t)r;
        }
        if (buf)
            t = bt_btime_parse(buf, n);
        free(buf);
        close(fd);
    }
    cached = t;
    return t;
}

double bt_proc_started(pid_t pid) {
    bt_stat st;
    long ticks = sysconf(_SC_CLK_TCK);
    double boot = boot_time();
    if (ticks <= 0 || boot < 0 || bt_proc_stat(pid, &st) != 0)
        return -1;
    return boot + (double)st.starttime / (double)ticks;
}

int bt_proc_uid(pid_t pid, uid_t *uid) {
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%ld", (long)pid);
    if (stat(path, &st) != 0)
        return -1;
    *uid = st.st_uid;
    return 0;
}

int bt_proc_has_uid(pid_t pid, uid_t uid) {
    char path[48], buf[4096];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    if (read_text(AT_FDCWD, path, buf, sizeof buf) <= 0)
        return 0;
    const char *p = strstr(buf, "\nUid:");
    if (!p)
        return 0;
    p += 5;
    for (int i = 0; i < 4; i++) { /* real, effective, saved, file system */
        char *end;
        unsigned long v = strtoul(p, &end, 10);
        if (end == p)
            break;
        if ((uid_t)v == uid)
            return 1;
        p = end;
    }
    return 0;
}

int bt_proc_exists(pid_t pid, int *zombie) {
    bt_stat st;
    if (bt_proc_stat(pid, &st) != 0)
        return 0;
    *zombie = st.state == 'Z' || st.state == 'X';
    return 1;
}

/* ---- holders of locks: /proc/locks ------------------------------------------------------ */

/* The whole of /proc/locks in a buffer the caller frees; NULL with errno on failure. */
static char *read_proc_locks(size_t *len) {
    int fd = open("/proc/locks", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 16384, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                errno = ENOMEM;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        int r = read_into(fd, buf, cap, &n);
        if (r < 0) {
            int saved = errno;
            free(buf);
            buf = NULL;
            errno = saved;
        }
        if (r != 0)
            break;
    }
    int saved = errno;
    close(fd);
    errno = saved;
    *len = n;
    return buf;
}

long bt_locks_find(const char *path, int kinds, bt_lock_holder *out, size_t max) {
    struct stat st;
    if (lstat(path, &st) != 0 || S_ISLNK(st.st_mode))
        return 0; /* nothing there (a link itself is never locked), so nobody holds it */
    size_t len;
    char *buf = read_proc_locks(&len);
    if (!buf)
        return -1;
    size_t total = bt_locks_parse_kinds(buf, len, major(st.st_dev), minor(st.st_dev),
                                        (unsigned long long)st.st_ino, kinds, out, max);
    if (total == 0) {
        /* Same inode number on some device: keep the holders that have our file open. */
        total = bt_locks_parse_kinds(buf, len, BT_ANY_DEVICE, 0, (unsigned long long)st.st_ino,
                                     kinds, out, max);
        size_t kept = 0;
        for (size_t i = 0; i < total && i < max; i++)
            if (out[i].pid > 0 && bt_has_open((pid_t)out[i].pid, st.st_dev, st.st_ino))
                out[kept++] = out[i];
        total = kept;
    }
    free(buf);
    return (long)total;
}

long bt_locks_holders(const char *path, bt_lock_holder *out, size_t max) {
    return bt_locks_find(path, BT_LOCK_FLOCK, out, max);
}

/* ---- calls whose form differs ------------------------------------------------------------ */

int bt_os_pipe(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

char ***bt_os_environ(void) { return &environ; }

int bt_os_reserve(int fd, off_t size) {
    int r;
    do
        r = posix_fallocate(fd, 0, size);
    while (r == EINTR);
    return r;
}

int bt_os_dontfork(void *map, size_t len) { return madvise(map, len, MADV_DONTFORK); }

double bt_os_mtime(const struct stat *st) {
    return (double)st->st_mtim.tv_sec + (double)st->st_mtim.tv_nsec / 1e9;
}

int bt_os_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    return -1;
#endif
}

int bt_os_parent_death(int sig) { return prctl(PR_SET_PDEATHSIG, sig); }

int bt_os_open_nolinks(const char *path, int flags, mode_t mode) {
    static atomic_int missing; /* the kernel (or a tool such as valgrind) lacks openat2 */
    if (atomic_load_explicit(&missing, memory_order_relaxed)) {
        errno = ENOSYS;
        return -1;
    }
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (unsigned long long)flags;
    how.mode = (flags & O_CREAT) ? (unsigned long long)mode : 0;
    how.resolve = RESOLVE_NO_SYMLINKS;
    int fd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
    if (fd < 0 && errno == ENOSYS)
        atomic_store_explicit(&missing, 1, memory_order_relaxed);
    return fd;
}

int bt_os_tmpfile(int dir, mode_t mode) {
    return openat(dir, ".", O_WRONLY | O_TMPFILE | O_CLOEXEC | O_NOCTTY, mode);
}

/* Naming a descriptor (AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH before Linux 6.10; without
 * it the name is given through /proc/self/fd. */
int bt_os_link_fd(int fd, int dir, const char *name) {
    static int by_proc;
    if (!__atomic_load_n(&by_proc, __ATOMIC_RELAXED)) {
        if (linkat(fd, "", dir, name, AT_EMPTY_PATH) == 0)
            return 0;
        if (errno != ENOENT)
            return -1;
    }
    char proc[48];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    int r = linkat(AT_FDCWD, proc, dir, name, AT_SYMLINK_FOLLOW);
    if (r == 0)
        __atomic_store_n(&by_proc, 1, __ATOMIC_RELAXED);
    return r;
}

size_t bt_os_fd_name(int fd, char *buf, size_t cap) {
    int n = snprintf(buf, cap, "/proc/self/fd/%d", fd);
    if (n <= 0 || (size_t)n >= cap || access(buf, F_OK) != 0)
        return 0;
    return (size_t)n;
}

int bt_os_knows(void) {
    return BT_KNOWS_LOCK_TABLE | BT_KNOWS_OPENERS | BT_KNOWS_CMDLINE | BT_KNOWS_STARTED;
}

const char *bt_os_name(void) { return "linux"; }

int bt_os_poll(struct pollfd *fds, unsigned n, double seconds) {
    struct timespec ts, *tp = NULL;
    if (seconds >= 0) {
        if (seconds > 1e6)
            seconds = 1e6;
        ts.tv_sec = (time_t)seconds;
        ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
        tp = &ts;
    }
    return ppoll(fds, (nfds_t)n, tp, NULL);
}

int bt_os_range_lock(int fd, int type, off_t start, off_t len, int block) {
    struct flock fl = {0};
    fl.l_type = (short)type;
    fl.l_whence = SEEK_SET;
    fl.l_start = start;
    fl.l_len = len;
    return fcntl(fd, block ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
}
