/* The portable side of the platform seam (os.h), for macOS, the BSDs and any POSIX system:
 * `make PLATFORM=posix` builds it on Linux too, where it stays off Linux's own facilities.
 * No /proc is read. Waits sleep between attempts (the caller backs them off), except that a
 * soft marker's folder is watched with kqueue where the system has it. Process identity
 * comes from proc_pidinfo (macOS) or sysctl KERN_PROC (FreeBSD) where they exist; elsewhere
 * only whether a pid exists can be told. Holders come from baton's own records. */
#if defined(__APPLE__)
#define _DARWIN_C_SOURCE
#elif defined(__FreeBSD__)
#define __BSD_VISIBLE 1
#else
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#endif
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../clock.h"
#include "../holder_records.h"
#include "../pid.h"

#if defined(__APPLE__)
#include <crt_externs.h>
#include <libproc.h>
#include <sys/proc.h>
#include <sys/proc_info.h>
#define BT_PROC_MACOS 1
#elif defined(__FreeBSD__)
#include <sys/param.h>
#include <sys/proc.h>
#include <sys/sysctl.h>
#include <sys/user.h>
#define BT_PROC_FREEBSD 1
#endif

#if defined(__APPLE__) || defined(__FreeBSD__) || defined(__NetBSD__) || \
    defined(__OpenBSD__) || defined(__DragonFly__)
#include <sys/event.h>
#define BT_KQUEUE 1
#endif

/* ---- release watch: kqueue on a marker's folder, else backed-off sleeps ----------------- */

/* A lock file's release (a descriptor closed) raises no kqueue event on macOS, and opening
 * the file to watch it would drop this process's record locks there when the watch ends
 * (POSIX close semantics): lock files are not watched, their waits sleep. A soft marker's
 * folder is: the marker leaving it writes the folder (NOTE_WRITE). */

int bt_watch_retarget(bt_watch *w, int i, const char *path) {
    (void)w;
    (void)i;
    (void)path;
    return 0; /* lock files are never watched here */
}

int bt_watch_fd(const bt_watch *w) { return w->fd; }

#ifdef BT_KQUEUE
static void stop(bt_watch *w) {
    if (w->fd < 0)
        return;
    if (w->owner == bt_pid()) {
        close(w->fd);
        for (int i = 0; i < w->n; i++)
            if (w->wd[i] >= 0)
                close(w->wd[i]);
    }
    /* else a forked child: a kqueue is not inherited (its number may name another file
     * now), and the folder descriptors are the parent's copies, closed on exec */
    for (int i = 0; i < w->n; i++)
        w->wd[i] = -1;
    w->fd = -1;
}

void bt_watch_stop(bt_watch *w) { stop(w); }

void bt_watch_close(bt_watch *w) { stop(w); }

#ifndef O_EVTONLY
#define O_EVTONLY O_RDONLY
#endif

static int arm(bt_watch *w, const char *folder) {
    int kq = kqueue();
    if (kq < 0)
        return 0;
    (void)fcntl(kq, F_SETFD, FD_CLOEXEC);
    int dfd = open(folder, O_EVTONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        close(kq);
        return 0;
    }
    struct kevent ev;
    EV_SET(&ev, (uintptr_t)dfd, EVFILT_VNODE, EV_ADD | EV_CLEAR,
           NOTE_WRITE | NOTE_DELETE | NOTE_RENAME | NOTE_REVOKE, 0, NULL);
    if (kevent(kq, &ev, 1, NULL, 0, NULL) != 0) {
        close(dfd);
        close(kq);
        return 0;
    }
    w->fd = kq;
    w->owner = bt_pid();
    w->folder = 1;
    w->wd[0] = dfd;
    return 1;
}

int bt_watch_wait(bt_watch *w, const char *const *paths, int folder, const char *entry,
                  double seconds) {
    (void)entry; /* any change of the folder is a reason for one more attempt */
    if (w->fd >= 0 && w->owner != bt_pid())
        stop(w);
    if (w->fd < 0) {
        if (folder && w->n == 1 && arm(w, paths[0]))
            return BT_WOKE_ARMED;
        bt_sleep(seconds);
        return BT_WOKE_NOTHING;
    }
    if (!(seconds > 0))
        seconds = 0;
    if (seconds > 1e6)
        seconds = 1e6;
    struct timespec ts;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    struct kevent got;
    int n = kevent(w->fd, NULL, 0, &got, 1, &ts);
    if (n <= 0)
        return BT_WOKE_NOTHING;
    if (got.fflags & (NOTE_DELETE | NOTE_RENAME | NOTE_REVOKE)) {
        stop(w); /* armed again on the next wait, on what is there then */
        return BT_WOKE_REPLACED;
    }
    return BT_WOKE_EVENT;
}
#else
void bt_watch_stop(bt_watch *w) { (void)w; }

void bt_watch_close(bt_watch *w) { (void)w; }

int bt_watch_wait(bt_watch *w, const char *const *paths, int folder, const char *entry,
                  double seconds) {
    (void)w;
    (void)paths;
    (void)folder;
    (void)entry;
    bt_sleep(seconds);
    return BT_WOKE_NOTHING;
}
#endif

/* ---- process identity -------------------------------------------------------------------- */

int bt_boot_id(uint32_t out[4]) {
    (void)out;
    return -1;
}

/* What the system tells of a process: 0, or -1 when it does not (or there is none). */
typedef struct proc_facts {
    double started; /* seconds since the epoch */
    unsigned long long start_us;
    int zombie;
    uid_t uid;      /* effective */
    uid_t uids[3];  /* real, effective, saved */
} proc_facts;

static int facts(pid_t pid, proc_facts *f) {
#if defined(BT_PROC_MACOS)
    struct proc_bsdinfo bi;
    if (proc_pidinfo(pid, PROC_PIDTBSDINFO, 0, &bi, sizeof bi) != (int)sizeof bi)
        return -1;
    f->start_us = (unsigned long long)bi.pbi_start_tvsec * 1000000ULL + bi.pbi_start_tvusec;
    f->started = (double)bi.pbi_start_tvsec + (double)bi.pbi_start_tvusec / 1e6;
    f->zombie = bi.pbi_status == SZOMB;
    f->uid = bi.pbi_uid;
    f->uids[0] = bi.pbi_ruid;
    f->uids[1] = bi.pbi_uid;
    f->uids[2] = bi.pbi_svuid;
    return 0;
#elif defined(BT_PROC_FREEBSD)
    struct kinfo_proc kp;
    size_t len = sizeof kp;
    int mib[4] = {CTL_KERN, KERN_PROC, KERN_PROC_PID, (int)pid};
    if (sysctl(mib, 4, &kp, &len, NULL, 0) != 0 || len != sizeof kp)
        return -1;
    f->start_us = (unsigned long long)kp.ki_start.tv_sec * 1000000ULL +
                  (unsigned long long)kp.ki_start.tv_usec;
    f->started = (double)kp.ki_start.tv_sec + (double)kp.ki_start.tv_usec / 1e6;
    f->zombie = kp.ki_stat == SZOMB;
    f->uid = kp.ki_uid;
    f->uids[0] = kp.ki_ruid;
    f->uids[1] = kp.ki_uid;
    f->uids[2] = kp.ki_svuid;
    return 0;
#else
    (void)pid;
    (void)f;
    return -1;
#endif
}

/* A child of ours that has ended but is not reaped: the one zombie POSIX alone can tell. */
static int our_zombie(pid_t pid) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

int bt_proc_exists(pid_t pid, int *zombie) {
    *zombie = 0;
    if (pid <= 0 || (kill(pid, 0) != 0 && errno == ESRCH))
        return 0;
    proc_facts f;
    *zombie = facts(pid, &f) == 0 ? f.zombie : our_zombie(pid);
    return 1;
}

/* The token is the start time in microseconds since the epoch, where the system tells it
 * (Python's filelock writes another number on Linux only, from /proc). */
size_t bt_proc_token(pid_t pid, char out[BT_TOKEN_LEN], int *dead) {
    proc_facts f;
    out[0] = '\0';
    *dead = 0;
    if (facts(pid, &f) != 0) {
        int zombie;
        *dead = bt_proc_exists(pid, &zombie) ? zombie : 0;
        return 0;
    }
    *dead = f.zombie;
    int n = snprintf(out, BT_TOKEN_LEN, "%llu", f.start_us);
    return n > 0 && n < BT_TOKEN_LEN ? (size_t)n : 0;
}

size_t bt_proc_cmdline(pid_t pid, char *buf, size_t cap) {
    if (cap == 0)
        return 0;
    buf[0] = '\0';
#if defined(BT_PROC_MACOS)
    /* The program's path: the arguments are not told without KERN_PROCARGS2's parsing. */
    char path[PROC_PIDPATHINFO_MAXSIZE];
    int n = proc_pidpath(pid, path, sizeof path);
    if (n <= 0)
        return 0;
    size_t len = (size_t)n < cap - 1 ? (size_t)n : cap - 1;
    memcpy(buf, path, len);
    buf[len] = '\0';
    return len;
#else
    (void)pid;
    return 0;
#endif
}

double bt_proc_started(pid_t pid) {
    proc_facts f;
    return facts(pid, &f) == 0 ? f.started : -1;
}

int bt_proc_uid(pid_t pid, uid_t *uid) {
    proc_facts f;
    if (pid == bt_pid()) {
        *uid = geteuid();
        return 0;
    }
    if (facts(pid, &f) != 0)
        return -1;
    *uid = f.uid;
    return 0;
}

int bt_proc_has_uid(pid_t pid, uid_t uid) {
    proc_facts f;
    if (pid == bt_pid())
        return getuid() == uid || geteuid() == uid;
    if (facts(pid, &f) != 0)
        return 0;
    for (int i = 0; i < 3; i++)
        if (f.uids[i] == uid)
            return 1;
    return 0;
}

/* ---- holders: baton's own records; no lock table, no open-file lookup ------------------- */

long bt_locks_find(const char *path, int kinds, bt_lock_holder *out, size_t max) {
    struct stat st;
    if (lstat(path, &st) != 0 || S_ISLNK(st.st_mode))
        return 0;
    if (!(kinds & BT_LOCK_FLOCK))
        return 0; /* SQLite's record locks are published by nobody */
    return bt_record_holders(BT_RECORD_FLOCK, st.st_dev, st.st_ino, out, max);
}

long bt_locks_holders(const char *path, bt_lock_holder *out, size_t max) {
    return bt_locks_find(path, BT_LOCK_FLOCK, out, max);
}

long bt_openers(dev_t dev, ino_t ino, uid_t uid, pid_t *pids, size_t max) {
    (void)dev;
    (void)ino;
    (void)uid;
    (void)pids;
    (void)max;
    errno = ENOSYS;
    return -1;
}

long bt_writers(dev_t dev, ino_t ino, uid_t uid, pid_t *pids, size_t max) {
    return bt_openers(dev, ino, uid, pids, max);
}

int bt_has_open(pid_t pid, dev_t dev, ino_t ino) {
    (void)pid;
    (void)dev;
    (void)ino;
    return 0;
}

/* ---- calls whose form differs ------------------------------------------------------------ */

int bt_os_pipe(int fds[2]) {
    if (pipe(fds) != 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        if (fcntl(fds[i], F_SETFD, FD_CLOEXEC) != 0) {
            int saved = errno;
            close(fds[0]);
            close(fds[1]);
            errno = saved;
            return -1;
        }
    }
    return 0;
}

#if defined(__APPLE__)
/* A loadable bundle cannot name `environ` (only executables have it): ask for it. */
char ***bt_os_environ(void) { return _NSGetEnviron(); }
#else
extern char **environ;
char ***bt_os_environ(void) { return &environ; }
#endif

/* Zeros written over the whole range: every file system allocates what is written. */
static int write_zeros(int fd, off_t size) {
    static const char zeros[4096];
    for (off_t at = 0; at < size;) {
        size_t n = size - at < (off_t)sizeof zeros ? (size_t)(size - at) : sizeof zeros;
        ssize_t w = pwrite(fd, zeros, n, at);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? errno : EIO;
        at += w;
    }
    return 0;
}

int bt_os_reserve(int fd, off_t size) {
#if defined(__APPLE__)
    return write_zeros(fd, size); /* no posix_fallocate */
#else
    int r;
    do
        r = posix_fallocate(fd, 0, size);
    while (r == EINTR);
    if (r == EINVAL || r == EOPNOTSUPP)
        r = write_zeros(fd, size); /* ZFS, among others, has none */
    return r;
#endif
}

int bt_os_dontfork(void *map, size_t len) {
#if defined(INHERIT_NONE)
    return minherit(map, len, INHERIT_NONE);
#else
    (void)map;
    (void)len;
    return -1; /* a forked child keeps the mapping but never writes into it (own_table) */
#endif
}

double bt_os_mtime(const struct stat *st) {
#if defined(__APPLE__)
    return (double)st->st_mtimespec.tv_sec + (double)st->st_mtimespec.tv_nsec / 1e9;
#else
    return (double)st->st_mtim.tv_sec + (double)st->st_mtim.tv_nsec / 1e9;
#endif
}

int bt_os_pidfd(pid_t pid) {
    (void)pid;
    return -1;
}

int bt_os_parent_death(int sig) {
    (void)sig;
    errno = ENOSYS;
    return -1;
}

int bt_os_open_nolinks(const char *path, int flags, mode_t mode) {
    (void)path;
    (void)flags;
    (void)mode;
    errno = ENOSYS;
    return -1;
}

int bt_os_tmpfile(int dir, mode_t mode) {
    (void)dir;
    (void)mode;
    errno = EOPNOTSUPP;
    return -1;
}

int bt_os_link_fd(int fd, int dir, const char *name) {
    (void)fd;
    (void)dir;
    (void)name;
    errno = EOPNOTSUPP;
    return -1;
}

size_t bt_os_fd_name(int fd, char *buf, size_t cap) {
    (void)fd;
    (void)buf;
    (void)cap;
    return 0;
}

int bt_os_knows(void) {
#if defined(BT_PROC_MACOS)
    return BT_KNOWS_STARTED | BT_KNOWS_CMDLINE;
#elif defined(BT_PROC_FREEBSD)
    return BT_KNOWS_STARTED;
#else
    return 0;
#endif
}

const char *bt_os_name(void) {
#if defined(__APPLE__)
    return "macos";
#elif defined(__FreeBSD__)
    return "freebsd";
#else
    return "posix";
#endif
}

int bt_os_poll(struct pollfd *fds, unsigned n, double seconds) {
    int ms = -1;
    if (seconds >= 0) {
        double m = seconds * 1000.0;
        if (m > 2e9)
            m = 2e9;
        ms = (int)m;
        if ((double)ms < m)
            ms++; /* never wake before the time asked */
    }
    return poll(fds, (nfds_t)n, ms);
}

/* No open file description locks on the portable path (macOS and the BSDs have none; their
 * fcntl locks belong to the process and any close of the file here would drop them). */
int bt_os_range_lock(int fd, int type, off_t start, off_t len, int block) {
    (void)fd, (void)type, (void)start, (void)len, (void)block;
    errno = ENOTSUP;
    return -1;
}
