/* Soft locks. Taking one is open(O_CREAT|O_EXCL) plus one write of the owner; releasing it
 * removes the marker only if it is still ours.
 *
 * Breaking a stale marker is where such locks usually go wrong: two waiters both find the
 * dead owner's marker, the first removes it and a third process creates a fresh one, then
 * the second, acting on its old verdict, removes the fresh marker. Here every baton process
 * that removes a marker (a breaker, or an owner releasing) holds flock(2) on the marker
 * while it checks that the path still names that very file (device and inode) and then
 * moves it away. No baton process can remove or replace it in between, and nobody creates a
 * marker while one exists, so the check stays true until the move. The breaker then
 * re-reads the moved file, confirms it is the one judged stale, and deletes it. If the
 * moved file is not the one judged (a program that removes markers without flock raced
 * us), it is put back with link(2), which never replaces a marker made meanwhile. */
#define _GNU_SOURCE
#include "soft_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if BT_OS_LINUX && defined(__GLIBC__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 25))
#include <sys/random.h>
#define HAVE_GETRANDOM 1
#endif

#include "clock.h"
#include "os/os.h"
#include "lock_path.h"
#include "pid.h"
#include "rw_file.h"
#include "holder_records.h"

/* Create-or-break rounds in one attempt before reporting the lock busy. */
#define MAX_ROUNDS 16
/* How long a look for processes holding an ownerless marker open stays good. */
#define SCAN_EVERY 1.0
/* How long a release waits for a breaker that holds the marker's flock. */
#define RELEASE_PATIENCE_STEPS 100
/* Names tried for moving a stale marker aside before giving up (a name is taken only when
 * someone made a file of that random name meanwhile). */
#define ASIDE_TRIES 8

/* What a marker at the path is: a live holder's (or one that cannot be judged yet), a dead
 * holder's, a file that is no marker at all, or a marker whose file was not written by the
 * user of the process it names. Only STALE is ever broken. */
enum { HELD = 0, STALE = 1, FOREIGN = 2, FORGED = 3, STRICT = 4, MISMATCH = 5 };
enum { RETRY = 2 }; /* beside BT_OK, BT_BUSY, BT_FAIL: create again */

#define FOREIGN_DETAIL "the file there holds other data, not a lock marker, and is left alone"

/* The detail of the last lease met with another duration on this thread. */
static _Thread_local char mismatch_why[256];

/* The detail of the last forged marker met on this thread (bt_err.detail points here). */
static _Thread_local char forged_why[1024];

/* ---- who we are ---------------------------------------------------------------------- */

typedef struct ident {
    pid_t pid;
    char host[BT_HOST_LEN];
    char token[BT_TOKEN_LEN];
    size_t marker_len;
    char marker[BT_HOST_LEN + 2 * BT_TOKEN_LEN + 160]; /* room for a lease's marker too */
} ident;

static ident me;

/* This process's host and marker text, worked out once per process (and again in a
 * forked child, whose pid and start token differ). */
static const ident *identity(void) {
    pid_t pid = bt_pid();
    if (__atomic_load_n(&me.pid, __ATOMIC_ACQUIRE) == pid)
        return &me;
    ident fresh;
    if (gethostname(fresh.host, sizeof fresh.host) != 0)
        fresh.host[0] = '\0';
    fresh.host[sizeof fresh.host - 1] = '\0';
    char token[BT_TOKEN_LEN];
    int dead;
    if (bt_proc_token(pid, token, &dead) == 0)
        token[0] = '\0'; /* then the two-line form, as filelock writes without a token */
    fresh.marker_len = bt_marker_format(fresh.marker, sizeof fresh.marker, (long)pid,
                                        fresh.host, token);
    memcpy(me.host, fresh.host, sizeof me.host);
    memcpy(me.token, token, sizeof me.token);
    memcpy(me.marker, fresh.marker, sizeof me.marker);
    me.marker_len = fresh.marker_len;
    __atomic_store_n(&me.pid, pid, __ATOMIC_RELEASE);
    return &me;
}

const char *bt_soft_host(void) { return identity()->host; }

/* ---- judging a marker ---------------------------------------------------------------- */

static double wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double mtime_of(const struct stat *st) {
    return bt_os_mtime(st);
}

static int same_host(const bt_marker *m) {
    const char *h = identity()->host;
    size_t n = strlen(h);
    return n > 0 && m->host_len == n && memcmp(m->host, h, n) == 0;
}

/* Whether the owner named by a marker from this host still runs. Fails closed: only a
 * missing pid, a zombie, or a pid whose start token differs (a recycled pid) is gone. */
static int owner_alive(const bt_marker *m) {
    if (kill((pid_t)m->pid, 0) != 0 && errno == ESRCH)
        return 0;
    char token[BT_TOKEN_LEN];
    int dead;
    size_t n = bt_proc_token((pid_t)m->pid, token, &dead);
    if (dead)
        return 0;
    if (n == 0 || !m->token[0])
        return 1; /* cannot tell, or nothing to compare: it runs */
    return strcmp(token, m->token) == 0;
}

/* Whether another process has an ownerless marker open: filelock 3.9 writes nothing into
 * its marker but keeps it open while it holds the lock. Looked up at most once a second
 * per marker, as it walks /proc. */
static int held_open(bt_soft *l, const struct stat *st) {
    double now = bt_now();
    if (l->scan_at > 0 && l->scan_dev == st->st_dev && l->scan_ino == st->st_ino &&
        now - l->scan_at < SCAN_EVERY)
        return l->scan_found;
    pid_t one;
    /* Any process that has it open holds it, whoever owns the file. */
    long n = bt_openers(st->st_dev, st->st_ino, (uid_t)-1, &one, 1);
    l->scan_dev = st->st_dev;
    l->scan_ino = st->st_ino;
    l->scan_at = now;
    l->scan_found = n > 0; /* when /proc cannot tell, filelock's age rule alone decides */
    return l->scan_found;
}

static ssize_t read_from_start(int fd, char *buf, size_t cap);

int bt_soft_user_name(uid_t uid, char *out, size_t cap) {
    struct passwd pw, *found = NULL;
    char buf[2048];
    if (cap == 0 || getpwuid_r(uid, &pw, buf, sizeof buf, &found) != 0 || !found ||
        !found->pw_name) {
        if (cap)
            out[0] = '\0';
        return 0;
    }
    snprintf(out, cap, "%s", found->pw_name);
    return 1;
}

void bt_soft_describe_uid(uid_t uid, char *out, size_t cap) {
    char name[256];
    if (bt_soft_user_name(uid, name, sizeof name))
        snprintf(out, cap, "uid %ld (%s)", (long)uid, name);
    else
        snprintf(out, cap, "uid %ld", (long)uid);
}

/* A marker on this host naming a live process is believed only when its file belongs to
 * that process's user: anybody can write any pid into a file, but only the holder's own
 * user can own the file. Otherwise another local user could name pid 1 and have the lock
 * reported as held by it (or, naming a process of the waiter's, make it wait forever). */
static int believed(const bt_marker *m, const struct stat *st) {
    uid_t owner;
    if (bt_proc_uid((pid_t)m->pid, &owner) != 0)
        return 1; /* gone meanwhile: the next look finds it dead */
    if (owner == st->st_uid || bt_proc_has_uid((pid_t)m->pid, st->st_uid))
        return 1;
    char proc_user[320], file_user[320];
    bt_soft_describe_uid(owner, proc_user, sizeof proc_user);
    bt_soft_describe_uid(st->st_uid, file_user, sizeof file_user);
    snprintf(forged_why, sizeof forged_why,
             "the marker there names pid %ld, a process of %s, but the file belongs to %s: "
             "the marker is not believed and is left alone",
             m->pid, proc_user, file_user);
    return 0;
}

/* A lease marker met by a lease: taken once its holder is gone or it is `lease` old; one of
 * another length is no contract this lock agreed to (filelock's LeaseSettingsMismatch). */
static int judge_lease(const bt_soft *l, const bt_marker *m, double age) {
    if (bt_marker_lease_mismatch(mismatch_why, sizeof mismatch_why, m->duration, l->lease))
        return MISMATCH;
    if (same_host(m) && !owner_alive(m))
        return STALE;
    return age >= l->lease ? STALE : HELD;
}

static int judge(bt_soft *l, const struct stat *st, const char *buf, size_t n) {
    bt_marker m;
    double age = wall_now() - mtime_of(st);
    if (bt_marker_is_sentinel(buf, n))
        return STRICT; /* never broken: the lock is its claims, not this file */
    if (bt_marker_parse(buf, n, &m)) {
        if (l->force)
            return STALE;
        if (l->lease > 0 && m.mode == BT_MARKER_LEASE)
            return judge_lease(l, &m, age);
        if (same_host(&m)) {
            if (!owner_alive(&m))
                return STALE;
            return believed(&m, st) ? HELD : FORGED;
        }
        return l->stale_after >= 0 && age >= l->stale_after ? STALE : HELD;
    }
    if (n > 0)
        return FOREIGN; /* not a marker: somebody's data, never ours to remove */
    if (!(age >= BT_SOFT_MALFORMED_AGE))
        return HELD; /* perhaps created a moment ago and not yet written */
    return held_open(l, st) ? HELD : STALE;
}

/* Read up to `cap` bytes from the start of fd. Returns the length, or -1. */
static ssize_t read_from_start(int fd, char *buf, size_t cap) {
    size_t n = 0;
    while (n < cap) {
        ssize_t r = pread(fd, buf + n, cap - n, (off_t)n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        n += (size_t)r;
    }
    return (ssize_t)n;
}

static int same_file(const struct stat *a, const struct stat *b) {
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* ---- breaking a stale marker --------------------------------------------------------- */

/* 64 unpredictable bits: getrandom(2), else /dev/urandom, else (neither available) the
 * clock mixed with the pid, which a taken name only makes us try again. */
unsigned long long bt_soft_random(void) {
    unsigned long long v = 0;
#ifdef HAVE_GETRANDOM
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) == (ssize_t)sizeof v)
        return v;
#endif
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd >= 0) {
        ssize_t n = read(fd, &v, sizeof v);
        close(fd);
        if (n == (ssize_t)sizeof v)
            return v;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    v = ((unsigned long long)ts.tv_sec * 1000000007ULL) ^ (unsigned long long)ts.tv_nsec ^
        ((unsigned long long)bt_pid() << 40);
    return v * 0x9E3779B97F4A7C15ULL;
}

/* A name beside the marker for moving it out of the way, random so that nobody can make
 * it beforehand (a folder or file of the name would make the move fail or replace it). */
static void aside_name(char *out, size_t cap) {
    snprintf(out, cap, ".baton-break.%016llx", bt_soft_random());
}

/* Move the marker `name` in the folder `dir` to a fresh name beside it, never replacing
 * anything there: 0 with the name in aside, or -1 with errno. */
static int move_aside(int dir, const char *name, char *aside, size_t cap) {
    for (int i = 0; i < ASIDE_TRIES; i++) {
        aside_name(aside, cap);
#ifdef RENAME_NOREPLACE
        if (renameat2(dir, name, dir, aside, RENAME_NOREPLACE) == 0)
            return 0;
        if (errno == EEXIST)
            continue; /* the name was taken: another one */
        if (errno != EINVAL && errno != ENOSYS)
            return -1;
        /* the file system cannot refuse to replace: a random name does it */
#endif
        if (renameat(dir, name, dir, aside) == 0)
            return 0;
        if (errno != EISDIR && errno != ENOTEMPTY && errno != EEXIST && errno != ENOTDIR)
            return -1;
    }
    return -1;
}

/* Break the marker open on `fd`, just judged stale. Returns RETRY when the path is free to
 * try again, BT_BUSY, or BT_FAIL. */
static int break_marker(bt_soft *l, int dir, const char *name, int fd, bt_err *err) {
    if (dir == BT_FS_BY_PATH)
        return BT_BUSY; /* no descriptor for the folder: broken once one is free */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 && (errno == EWOULDBLOCK || errno == EINTR))
        return BT_BUSY; /* another baton process is removing it right now */
    /* Under the flock: is the path still this file, and is it still stale? */
    struct stat st, at_path;
    char buf[BT_MARKER_MAX + 1];
    if (fstat(fd, &st) != 0 || fstatat(dir, name, &at_path, AT_SYMLINK_NOFOLLOW) != 0 ||
        !same_file(&st, &at_path))
        return RETRY;
    ssize_t n = read_from_start(fd, buf, sizeof buf);
    if (n < 0 || n > BT_MARKER_MAX || judge(l, &st, buf, (size_t)n) != STALE)
        return BT_BUSY; /* the next attempt tells what it has become */
    char aside[64];
    if (move_aside(dir, name, aside, sizeof aside) != 0) {
        if (errno == ENOENT)
            return RETRY;
        return bt_fail(err, "break the stale", errno, NULL);
    }
    struct stat moved;
    if (fstatat(dir, aside, &moved, AT_SYMLINK_NOFOLLOW) == 0 && !same_file(&moved, &st)) {
        /* Not the marker we judged: a remover that does not flock raced us. Put it back;
         * link never replaces a marker made meanwhile, and if one was, that one stands. */
        if (linkat(dir, aside, dir, name, 0) != 0 && errno != EEXIST)
            return bt_fail(err, "put back a marker moved while breaking", errno, NULL);
        unlinkat(dir, aside, 0);
        return BT_BUSY;
    }
    unlinkat(dir, aside, 0);
    return RETRY;
}

/* Why a verdict refuses the lock for good, with its errno into *code; NULL when it does not
 * (a holder to wait for, or a stale marker to break). */
static const char *refusal(int verdict, int *code) {
    static const struct {
        int verdict, code;
    } table[] = {{FOREIGN, EEXIST}, {FORGED, EPERM}, {STRICT, EEXIST}, {MISMATCH, EINVAL}};
    const char *why[] = {FOREIGN_DETAIL, forged_why, BT_STRICT_DETAIL, mismatch_why};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].verdict == verdict) {
            *code = table[i].code;
            return why[i];
        }
    return NULL;
}

/* The marker exists: hold on (BT_BUSY), break it (RETRY), or fail. */
static int examine(bt_soft *l, int dir, const char *name, bt_err *err) {
    int fd = bt_fs_openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0);
    if (fd < 0) {
        if (errno == ENOENT)
            return RETRY; /* released meanwhile */
        if (errno == EACCES)
            return BT_BUSY; /* a marker we may not read is someone's: fail closed */
        if (errno == ELOOP)
            return bt_fail(err, "use", ELOOP, "it is a symbolic link");
        return bt_fail(err, "read", errno, NULL);
    }
    struct stat st;
    char buf[BT_MARKER_MAX + 1];
    ssize_t n = -1;
    int r;
    if (fstat(fd, &st) != 0) {
        r = bt_fail(err, "stat", errno, NULL);
    } else if (S_ISDIR(st.st_mode)) {
        r = bt_fail(err, "use", EISDIR, NULL);
    } else if (!S_ISREG(st.st_mode)) {
        r = bt_fail(err, "use", EINVAL, "not a regular file");
    } else if ((n = read_from_start(fd, buf, sizeof buf)) < 0) {
        r = bt_fail(err, "read", errno, NULL);
    } else if (n > BT_MARKER_MAX) {
        /* Far longer than any marker: someone's data, which breaking would delete. */
        r = bt_fail(err, "use", EEXIST, FOREIGN_DETAIL);
    } else {
        int verdict = judge(l, &st, buf, (size_t)n), code = 0;
        const char *why = refusal(verdict, &code);
        if (why)
            r = bt_fail(err, "use", code, why);
        else
            r = verdict == HELD ? BT_BUSY : break_marker(l, dir, name, fd, err);
    }
    close(fd);
    return r;
}

/* ---- taking and giving back ---------------------------------------------------------- */

static void unwatch(bt_soft *l) { bt_watch_stop(&l->watch); }

void bt_soft_init(bt_soft *l, mode_t mode, int make_parents, double stale_after) {
    memset(l, 0, sizeof *l);
    l->fd = -1;
    l->record = -1;
    bt_watch_init(&l->watch, &l->wd, 1);
    l->spare = -1;
    l->dir = -1;
    l->mode = mode;
    l->make_parents = make_parents;
    l->stale_after = stale_after;
}

/* ---- publishing a marker --------------------------------------------------------------
 *
 * A marker created with O_EXCL names nobody until it is written, and a holder killed in
 * between (the kernel often switches tasks as the creating call returns) leaves a marker
 * that waiters may only break after 2 s. Where the file system can (O_TMPFILE: ext4, xfs,
 * btrfs, tmpfs and more, Linux 3.11+), the marker is written in full into an unnamed file
 * first and then given its name with linkat(2), which fails with EEXIST while a marker is
 * there, as O_EXCL does: a marker at the path always names its holder. Elsewhere, and
 * whenever making the unnamed file fails, the O_EXCL way is taken. */

static void drop_spare(bt_soft *l) {
    if (l->spare >= 0)
        close(l->spare);
    l->spare = -1;
}

/* Our written, unnamed marker, made once per wait and kept between attempts; -1 when
 * there is none to be had. */
static int spare(bt_soft *l, int dir, const ident *id) {
    if (l->spare >= 0 && l->spare_pid != bt_pid())
        drop_spare(l); /* inherited through fork(): it names the parent */
    if (l->spare >= 0) {
        double now = bt_now();
        if (now - l->spare_at > 1.0) { /* keep its age that of the attempt */
            futimens(l->spare, NULL);
            l->spare_at = now;
        }
        return l->spare;
    }
    if (l->no_tmpfile)
        return -1;
    int fd = bt_os_tmpfile(dir, BT_MODE_BITS(l->mode));
    if (fd < 0) {
        if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)
            l->no_tmpfile = 1;
        return -1; /* a missing folder, no permission...: met by the O_EXCL way */
    }
    bt_apply_mode(fd, l->mode);
    if (write(fd, id->marker, id->marker_len) != (ssize_t)id->marker_len) {
        close(fd);
        return -1;
    }
    l->spare = fd;
    l->spare_pid = bt_pid();
    l->spare_at = bt_now();
    return fd;
}

/* Name the unnamed file fd `name` in the folder `dir`: 0, or -1 with errno (EEXIST: a
 * marker is there). */
static int publish(int fd, int dir, const char *name) { return bt_os_link_fd(fd, dir, name); }

/* Create the marker `name` in the folder `dir`: a descriptor on it, *written telling
 * whether it already holds our name, or -1 with errno (EEXIST: a marker is there). */
static int create(bt_soft *l, int dir, const char *name, const ident *id, int use_spare,
                  int *written) {
    int fd = use_spare && dir != BT_FS_BY_PATH ? spare(l, dir, id) : -1;
    if (fd >= 0) {
        if (publish(fd, dir, name) == 0) {
            l->spare = -1;
            *written = 1;
            return fd;
        }
        if (errno == EEXIST)
            return -1;
        if (errno == EXDEV || errno == EPERM || errno == EMLINK || errno == EOPNOTSUPP)
            l->no_tmpfile = 1; /* no hard links here */
        drop_spare(l); /* and let the O_EXCL way meet whatever this was */
    }
    *written = 0;
    fd = bt_fs_openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
              BT_MODE_BITS(l->mode));
    if (fd >= 0)
        bt_apply_mode(fd, l->mode); /* made by this call: O_EXCL */
    return fd;
}

static void remove_own(bt_soft *l, const char *path);

/* A lease just taken: its age counts from now (an unnamed marker may have waited), and the
 * heartbeat keeps it young. Failing to start it gives the lock back. */
static int start_beat(bt_soft *l, const char *name, bt_err *err) {
    futimens(l->fd, NULL);
    l->beat = bt_beat_start(l->dir, name, name, l->fd, l->dev, l->ino, l->lease, l->every);
    if (l->beat)
        return BT_OK;
    int saved = errno;
    if (l->dir >= 0)
        remove_own(l, name);
    close(l->fd);
    l->fd = -1;
    l->dir = -1; /* the caller closes it */
    return bt_fail(err, "start the heartbeat of the lease", saved, NULL);
}

/* We created the marker on fd: unless it holds our name already, write it at once (our
 * identity is worked out beforehand, so nothing comes between creating and writing). */
static int take(bt_soft *l, int dir, const char *name, int fd, int written, const ident *id,
                bt_err *err) {
    ssize_t w = written ? (ssize_t)id->marker_len : write(fd, id->marker, id->marker_len);
    int saved = w < 0 ? errno : ENOSPC;
    struct stat st;
    int known = fstat(fd, &st) == 0;
    if (w != (ssize_t)id->marker_len || !known) {
        const char *op = w != (ssize_t)id->marker_len ? "write" : "stat";
        if (dir == BT_FS_BY_PATH) {
            /* no folder to remove it from safely: it names nobody and is broken in time */
        } else if (known) {
            struct stat now;
            if (fstatat(dir, name, &now, AT_SYMLINK_NOFOLLOW) == 0 && same_file(&now, &st))
                unlinkat(dir, name, 0);
        } else {
            saved = errno;
            /* made by us a moment ago, and we live: nobody else removes it */
            unlinkat(dir, name, 0);
        }
        close(fd);
        return bt_fail(err, op, saved, NULL);
    }
    l->fd = fd;
    l->dir = dir >= 0 ? dir : -1; /* kept for the release */
    l->owner = bt_pid();
    l->dev = st.st_dev;
    l->ino = st.st_ino;
    if (l->lease > 0 && start_beat(l, name, err) != BT_OK)
        return BT_FAIL;
    unwatch(l);
    l->no_watch = 0;
    return BT_OK;
}

/* An attempt ran out of descriptors. If the wait's own (the unnamed marker, the watch)
 * took them, let go of them and go on without (timed attempts instead of the watch): 1 to
 * try again, 0 when there was nothing to give back. */
static int short_of_descriptors(bt_soft *l, int *use_spare) {
    if (l->spare >= 0 || *use_spare) {
        drop_spare(l);
        if (*use_spare) {
            *use_spare = 0;
            return 1;
        }
    }
    if (bt_watch_fd(&l->watch) >= 0) {
        bt_watch_close(&l->watch); /* closed, not kept: the descriptor is what is short */
        l->no_watch = 1;
        return 1;
    }
    return 0;
}

/* An attempt in the folder `*dir` ran out of descriptors: give back the wait's own
 * (short_of_descriptors), or else the folder's and go on by the whole path without links.
 * 1 to try again, 0 when nothing was left to give back. */
static int make_room(bt_soft *l, int *dir, const char **name, const char *path, int *use_spare) {
    if (short_of_descriptors(l, use_spare))
        return 1;
    if (*dir < 0)
        return 0;
    /* the folder's descriptor was the last one */
    close(*dir);
    *dir = BT_FS_BY_PATH;
    *name = path;
    return 1;
}

static void close_dir(bt_soft *l) {
    if (l->dir >= 0)
        close(l->dir);
    l->dir = -1;
}

static void close_dir_fd(int dir) {
    if (dir >= 0)
        close(dir);
}

/* One attempt in the folder `dir` (closed here unless the lock is taken), or by the whole
 * path without links for BT_FS_BY_PATH. */
static int attempt(bt_soft *l, const char *path, int dir, int use_spare, const ident *id,
                   bt_err *err) {
    const char *name = dir == BT_FS_BY_PATH ? path : bt_fs_last_name(path);
    int remade = 0;
    for (int round = 0; round < MAX_ROUNDS; round++) {
        int written;
        int fd = create(l, dir, name, id, use_spare, &written);
        if (fd >= 0) {
            int r = take(l, dir, name, fd, written, id, err);
            if (r != BT_OK)
                close_dir_fd(dir);
            return r;
        }
        int short_of = errno == EMFILE || errno == ENFILE;
        if (short_of && make_room(l, &dir, &name, path, &use_spare))
            continue;
        if (errno == ENOENT && l->make_parents && !remade && dir != BT_FS_BY_PATH) {
            /* the folder was removed as we came: make it again */
            close_dir_fd(dir);
            if ((dir = bt_fs_open_folder(path, 1, "create", err)) < 0)
                return BT_FAIL;
            remade = 1;
            continue;
        }
        if (errno != EEXIST) {
            close_dir_fd(dir);
            return bt_fail(err, "create", errno, NULL);
        }
        int r = examine(l, dir, name, err);
        short_of = r == BT_FAIL && (err->code == EMFILE || err->code == ENFILE);
        if (short_of && make_room(l, &dir, &name, path, &use_spare))
            continue;
        if (r != RETRY) {
            close_dir_fd(dir);
            return r;
        }
    }
    close_dir_fd(dir);
    return BT_BUSY;
}

/* The marker of this acquisition of a lease, made once per acquisition (its claim, 32
 * random hexadecimal digits, names the acquisition as filelock's token does). */
static void lease_marker(bt_soft *l, const ident *id) {
    if (l->lease_len > 0 && l->lease_pid == id->pid)
        return;
    char claim[33];
    unsigned long long a = bt_soft_random(), b = bt_soft_random();
    snprintf(claim, sizeof claim, "%016llx%016llx", a, b);
    l->lease_len = bt_marker_format_lease(l->lease_text, sizeof l->lease_text, (long)id->pid,
                                          id->host, claim, l->lease, id->token);
    l->lease_pid = id->pid;
}

void bt_soft_set_lease(bt_soft *l, double lease, double every) {
    l->lease = lease;
    l->every = every;
}

int bt_soft_lost(const bt_soft *l, char *why, size_t cap, const char **reason) {
    return l->fd >= 0 && l->owner == bt_pid() && bt_beat_lost(l->beat, why, cap, reason);
}

int bt_soft_lostfd(const bt_soft *l) { return l->fd >= 0 ? bt_beat_fd(l->beat) : -1; }

int bt_soft_try(bt_soft *l, const char *path, bt_err *err) {
    if (l->fd >= 0) {
        if (l->owner == bt_pid())
            return BT_OK;
        close(l->fd); /* inherited through fork(): the parent's marker, not ours */
        l->fd = -1;
        close_dir(l);
        bt_beat_stop(l->beat); /* the child's copies only: the thread is the parent's */
        l->beat = NULL;
        l->lease_len = 0;
    }
    const char *name = bt_fs_last_name(path);
    if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return bt_fail(err, "create", EISDIR, NULL);
    const ident *id = identity(); /* before any descriptor is taken: it reads /proc */
    ident leased;
    if (l->lease > 0) {
        lease_marker(l, id);
        leased = *id;
        memcpy(leased.marker, l->lease_text, l->lease_len);
        leased.marker_len = l->lease_len;
        id = &leased;
    }
    /* Everything below is done relative to the folder's descriptor: no change to the path
     * while we work can steer a marker elsewhere. */
    int use_spare = 1;
    int dir = bt_fs_open_folder(path, l->make_parents, "create", err);
    while (dir < 0 && (err->code == EMFILE || err->code == ENFILE) &&
           short_of_descriptors(l, &use_spare))
        dir = bt_fs_open_folder(path, l->make_parents, "create", err);
    if (dir < 0 && (err->code == EMFILE || err->code == ENFILE))
        dir = BT_FS_BY_PATH; /* no descriptor for the folder: by the path without links */
    else if (dir < 0)
        return BT_FAIL;
    if (dir >= 0)
        return attempt(l, path, dir, use_spare, id, err);
    bt_err first = *err;
    int r = attempt(l, path, dir, use_spare, id, err);
    if (r == BT_FAIL && (err->code == ENOSYS || err->code == ELOOP))
        *err = first; /* no openat2, or a link on the way: the folder was what failed */
    return r;
}

/* The folder holding `path`, into dir (cap bytes): for the wait's watch, which only wakes. */
static int folder_of(const char *path, char *dir, size_t cap) {
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, cap, ".");
    else if (slash == path)
        snprintf(dir, cap, "/");
    else if ((size_t)(slash - path) < cap)
        snprintf(dir, cap, "%.*s", (int)(slash - path), path);
    else
        return -1;
    return 0;
}

int bt_soft_wait(bt_soft *l, const char *path, double seconds) {
    char dir[4096];
    if (l->no_watch || folder_of(path, dir, sizeof dir) != 0) {
        bt_sleep(seconds);
        return 0;
    }
    const char *slash = strrchr(path, '/');
    const char *dirs[1] = {dir};
    int woke = bt_watch_wait(&l->watch, dirs, 1, slash ? slash + 1 : path, seconds);
    return woke == BT_WOKE_EVENT || woke == BT_WOKE_REPLACED;
}

int bt_soft_pollfd(const bt_soft *l) { return bt_watch_fd(&l->watch); }

int bt_soft_held(const bt_soft *l) {
    char why[8];
    return l->fd >= 0 && l->owner == bt_pid() && !bt_beat_lost(l->beat, why, sizeof why, NULL);
}

void bt_soft_record(bt_soft *l, const char *note, size_t note_len) {
    if (!bt_soft_held(l))
        return;
    bt_record_drop(l->record);
    l->record = bt_record_add(BT_RECORD_SOFT, 0, l->dev, l->ino, note, note_len);
}

/* Remove our marker if the path still names it, holding its flock so that a baton breaker
 * (which may judge it stale by age from another host) cannot act in between. */
static void unlink_own(bt_soft *l, int dir, const char *name) {
    struct stat st;
    if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == l->dev &&
        st.st_ino == l->ino)
        unlinkat(dir, name, 0);
}

static void remove_own(bt_soft *l, const char *path) {
    const char *name = bt_fs_last_name(path);
    bt_err err;
    if (l->dir < 0) /* taken while out of descriptors: find the folder now */
        l->dir = bt_fs_open_folder(path, 0, "remove", &err);
    if (l->dir < 0 && (err.code == EMFILE || err.code == ENFILE)) {
        /* Still none to spare: give up the marker's descriptor for the folder's, and
         * remove it without the flock that holds off a breaker from another host. */
        close(l->fd);
        l->fd = -1;
        int dir = bt_fs_open_folder(path, 0, "remove", &err);
        if (dir >= 0) {
            unlink_own(l, dir, name);
            close(dir);
        }
        return;
    }
    if (l->dir < 0)
        return; /* the folder is gone, or reached only through a refused link */
    for (int i = 0; i < RELEASE_PATIENCE_STEPS; i++) {
        if (flock(l->fd, LOCK_EX | LOCK_NB) == 0)
            break;
        if (errno != EWOULDBLOCK && errno != EINTR)
            break; /* no flock on this file system: go on without it */
        bt_sleep(0.0005);
    }
    unlink_own(l, l->dir, name);
}

void bt_soft_release(bt_soft *l, const char *path) {
    bt_beat_stop(l->beat); /* first: it uses the marker's descriptor */
    l->beat = NULL;
    l->lease_len = 0;
    bt_record_drop(l->record);
    l->record = -1;
    if (l->fd >= 0) {
        if (l->owner == bt_pid())
            remove_own(l, path);
        if (l->fd >= 0)
            close(l->fd); /* also ends the flock taken above */
        l->fd = -1;
    }
    close_dir(l);
    drop_spare(l);
    unwatch(l);
    l->no_watch = 0;
}

/* Read the start of the file at `path` into buf: the length, 0 with st_mode not a regular
 * file, or -1 with errno set (ENOENT and the like when there is none). */
static ssize_t read_marker(const char *path, struct stat *st, char *buf, size_t cap) {
    /* Nothing there needs no descriptor to tell (there may be none left). */
    if (lstat(path, st) != 0)
        return -1;
    if (!S_ISREG(st->st_mode))
        return 0;
    /* A lock file this process holds SQLite (POSIX record) locks on is read through the
     * descriptor kept for it: closing any other descriptor on it would drop those locks. */
    long kept = bt_rw_file_read(st->st_dev, st->st_ino, buf, cap);
    if (kept != -2)
        return (ssize_t)kept;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return -1;
    ssize_t n = 0;
    int saved = 0;
    if (fstat(fd, st) != 0)
        saved = errno;
    else if (S_ISREG(st->st_mode) && (n = read_from_start(fd, buf, cap)) < 0)
        saved = errno;
    close(fd);
    errno = saved;
    return saved ? -1 : n;
}

int bt_soft_inspect(const char *path, double stale_after, bt_soft_info *info) {
    memset(info, 0, sizeof *info);
    struct stat st;
    char buf[BT_MARKER_MAX + 1];
    bt_err err;
    if (bt_fs_vet(path, &err) != BT_OK) {
        errno = ELOOP;
        return -1;
    }
    ssize_t n = read_marker(path, &st, buf, sizeof buf);
    if (n < 0)
        return errno == ENOENT || errno == ELOOP || errno == ENOTDIR ? 0 : -1;
    if (!S_ISREG(st.st_mode))
        return 0;
    info->mtime = mtime_of(&st);
    info->size = (size_t)st.st_size;
    info->dev = st.st_dev;
    info->ino = st.st_ino;
    info->uid = st.st_uid;
    info->named = bt_marker_parse(buf, (size_t)n, &info->m);
    info->this_host = info->named && same_host(&info->m);
    info->alive = !info->named ? -1 : info->this_host ? owner_alive(&info->m) : -1;
    bt_soft judge_with;
    bt_soft_init(&judge_with, 0, 0, stale_after);
    int verdict = judge(&judge_with, &st, buf, (size_t)n);
    info->stale = verdict == STALE;
    info->foreign = verdict == FOREIGN || (size_t)n > BT_MARKER_MAX;
    info->strict = verdict == STRICT;
    info->believed = verdict != FORGED;
    if (verdict == FORGED)
        bt_proc_uid((pid_t)info->m.pid, &info->owner_uid);
    return 1;
}

int bt_soft_break(const char *path, bt_err *err) {
    bt_soft l;
    bt_soft_init(&l, 0, 0, -1);
    l.force = 1;
    int dir = bt_fs_open_folder(path, 0, "break", err);
    if (dir < 0)
        return BT_FAIL;
    int r = BT_BUSY;
    /* busy while a baton holder releases it (it holds the marker's flock a moment) */
    for (int i = 0; i < 100 && r == BT_BUSY; i++) {
        r = examine(&l, dir, bt_fs_last_name(path), err);
        if (r == BT_BUSY)
            bt_sleep(0.002);
    }
    close(dir);
    return r == RETRY ? BT_OK : r;
}
