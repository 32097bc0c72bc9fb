/* Soft read/write locks (soft_rw.h): filelock's SoftReadWriteLock protocol. */
#define _GNU_SOURCE
#include "soft_rw.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "lock_path.h"
#include "os/os.h"
#include "pid.h"

#define MARKER_MAX BT_RW_MARKER_MAX
#define OPEN_DIR (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

static const char *const held_names[] = {"free", "read", "write"};

static _Thread_local char foreign_why[PATH_MAX + 128]; /* a failure's detail */

static double wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int side(char *out, size_t cap, const char *path, const char *suffix) {
    return snprintf(out, cap, "%s%s", path, suffix) < (int)cap ? 0 : -1;
}

/* A marker's token, if it is one ("TOKEN\nPID\nHOST\n"): 1 with token filled, else 0. */
static int parse(const char *buf, size_t n, char token[33]) {
    return bt_marker_parse_rw(buf, n, token, NULL, NULL, 0);
}

/* Read the marker `name` in dir: 1 (with mtime, token; *valid when it parses, *empty when
 * it holds nothing), 0 none. */
static int read_marker(int dir, const char *name, double *mtime, char token[33], int *valid,
                       int *empty) {
    int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return 0;
    struct stat st;
    char buf[MARKER_MAX + 1];
    ssize_t n = fstat(fd, &st) == 0 ? read(fd, buf, sizeof buf) : -1;
    close(fd);
    if (n < 0)
        return 0;
    *mtime = bt_os_mtime(&st);
    *valid = S_ISREG(st.st_mode) && parse(buf, (size_t)n, token);
    *empty = S_ISREG(st.st_mode) && n == 0;
    return 1;
}

static int describe(int dir, const char *name, bt_softrw_marker *m);

/* Whether the marker's holder is provably gone: a process of this host that no longer
 * exists (a recycled pid looks alive: then only its age tells). */
static int owner_gone(int dir, const char *name) {
    bt_softrw_marker m;
    char host[256];
    if (!describe(dir, name, &m) || gethostname(host, sizeof host) != 0)
        return 0;
    host[sizeof host - 1] = '\0';
    return strcmp(host, m.host) == 0 && kill((pid_t)m.pid, 0) != 0 && errno == ESRCH;
}

/* Evict the marker `name` in dir when it is older than the stale threshold, or its holder is
 * gone from this host: moved aside under a random name, checked to be the same claim not
 * refreshed meanwhile, removed. A stale entry that is no marker is removed from the readers'
 * folder (`readers`: a folder of markers only) and when empty (a writer killed before it
 * wrote its marker), else left alone: -1 then, else 0. */
static int evict_stale(bt_softrw *l, int dir, const char *name, int readers) {
    double before, after;
    char token[33], again[33];
    int valid, valid_after, empty;
    if (!read_marker(dir, name, &before, token, &valid, &empty))
        return 0;
    if (wall_now() - before <= l->stale && !(valid && owner_gone(dir, name)))
        return 0;
    if (!valid) {
        if (!readers && !empty)
            return -1; /* somebody's data, not a marker */
        unlinkat(dir, name, 0);
        return 0;
    }
    char aside[160];
    snprintf(aside, sizeof aside, "%s.break.%ld.%016llx%016llx", name, (long)bt_pid(),
             bt_soft_random(), bt_soft_random());
    if (renameat(dir, name, dir, aside) != 0)
        return 0;
    if (read_marker(dir, aside, &after, again, &valid_after, &empty) &&
        (!valid_after || (strcmp(token, again) == 0 && !(after > before))))
        unlinkat(dir, aside, 0);
    return 0;
}

/* Create our marker `name` in dir (O_EXCL, 0600): 0, or -1 with errno (EEXIST). */
static int create_marker(bt_softrw *l, int dir, const char *name) {
    char text[400], host[256];
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    int n = snprintf(text, sizeof text, "%016llx%016llx\n%ld\n%s\n", bt_soft_random(),
                     bt_soft_random(), (long)bt_pid(), host);
    int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0)
        return -1;
    struct stat st;
    if (write(fd, text, (size_t)n) != n || fstat(fd, &st) != 0) {
        int saved = errno ? errno : ENOSPC;
        close(fd);
        unlinkat(dir, name, 0);
        errno = saved;
        return -1;
    }
    l->fd = fd;
    l->dev = st.st_dev;
    l->ino = st.st_ino;
    snprintf(l->name, sizeof l->name, "%s", name);
    return 0;
}

/* 1 when the path `name` in dir is still our marker. */
static int still_ours(const bt_softrw *l, int dir, const char *name) {
    struct stat st;
    return fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == l->dev &&
           st.st_ino == l->ino;
}

/* Remove our marker while the path still names it. The writer's is checked and removed
 * under PATH.state, as every eviction and claim of PATH.write runs: else a peer could evict
 * it and claim PATH.write between the check and the removal, whose marker we would remove.
 * When PATH.state cannot be had, the marker stays for peers to evict once stale. A reader's
 * name is its own (random), so nobody else makes a marker under it. */
static void drop_marker(bt_softrw *l, int dir, const char *path) {
    char spath[PATH_MAX];
    if (l->fd >= 0) {
        if (l->owner == bt_pid() && dir >= 0 && still_ours(l, dir, l->name)) {
            if (dir == l->rdir) {
                unlinkat(dir, l->name, 0);
            } else if (side(spath, sizeof spath, path, ".state") == 0 && bt_softrw_take_state(l, spath) == 0) {
                if (still_ours(l, dir, l->name))
                    unlinkat(dir, l->name, 0);
                bt_soft_release(&l->state, spath);
            }
        }
        close(l->fd);
    }
    l->fd = -1;
}

/* Whether any reader's marker is left in rdir (stale ones evicted first). */
static int any_readers(bt_softrw *l, int rdir) {
    int fd = dup(rdir);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return 1; /* cannot tell: wait */
    }
    rewinddir(d);
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strstr(e->d_name, ".break"))
            continue;
        evict_stale(l, rdir, e->d_name, 1);
        struct stat st;
        if (fstatat(rdir, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            found = 1;
    }
    closedir(d);
    return found;
}

static int open_readers(int dir, const char *name, bt_err *err) {
    char readers[300];
    snprintf(readers, sizeof readers, "%s.readers", name);
    if (mkdirat(dir, readers, 0700) != 0 && errno != EEXIST)
        return bt_fail(err, "create the readers' folder of", errno, NULL), -1;
    int fd = openat(dir, readers, OPEN_DIR);
    if (fd < 0)
        bt_fail(err, "open the readers' folder of", errno == ELOOP ? ENOTDIR : errno,
                errno == ELOOP ? "PATH.readers is not a real folder" : NULL);
    return fd;
}

/* The transition under PATH.state: BT_OK, BT_BUSY or BT_FAIL. */
static int transition(bt_softrw *l, const char *path, int write, bt_err *err) {
    const char *name = bt_fs_last_name(path);
    char wname[300];
    if (snprintf(wname, sizeof wname, "%s.write", name) >= (int)sizeof wname)
        return bt_fail(err, "use", ENAMETOOLONG, NULL);
    int rdir = open_readers(l->dir, name, err);
    if (rdir < 0)
        return BT_FAIL;
    int r = BT_BUSY;
    if (!write || !l->claimed) {
        struct stat st;
        if (evict_stale(l, l->dir, wname, 0) != 0) {
            snprintf(foreign_why, sizeof foreign_why, "the writer's marker '%s.write' beside it "
                     "holds other data, not a marker, and is left alone", path);
            r = bt_fail(err, "use", EEXIST, foreign_why);
        } else if (fstatat(l->dir, wname, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            r = BT_BUSY; /* a writer holds or claims it */
        } else if (!write) {
            char rname[64];
            snprintf(rname, sizeof rname, "%016llx%016llx.%ld", bt_soft_random(),
                     bt_soft_random(), (long)bt_pid());
            r = create_marker(l, rdir, rname) == 0 ? BT_OK : bt_fail(err, "create a reader's marker for", errno, NULL);
            if (r == BT_OK) {
                l->rdir = rdir;
                rdir = -1;
            }
        } else if (create_marker(l, l->dir, wname) == 0) {
            l->claimed = 1;
        } else if (errno != EEXIST) {
            r = bt_fail(err, "create the writer's marker of", errno, NULL);
        }
    }
    if (write && l->claimed) {
        if (!still_ours(l, l->dir, wname)) { /* evicted while we waited: claim it again */
            close(l->fd);
            l->fd = -1;
            l->claimed = 0;
            r = BT_BUSY;
        } else {
            futimens(l->fd, NULL);
            r = any_readers(l, rdir) ? BT_BUSY : BT_OK;
        }
    }
    if (rdir >= 0)
        close(rdir);
    return r;
}

static void give_back(bt_softrw *l, const char *path);

static int softrw_try(void *state, const char *path, int how, bt_err *err, const char **named) {
    (void)named;
    bt_softrw *l = state;
    if (l->owner != bt_pid()) { /* inherited through fork(): the parent's, not ours */
        if (l->fd >= 0)
            close(l->fd);
        if (l->dir >= 0)
            close(l->dir);
        if (l->rdir >= 0)
            close(l->rdir);
        bt_beat_stop(l->beat);
        l->beat = NULL;
        l->fd = l->dir = l->rdir = -1;
        l->held = l->claimed = 0;
        l->owner = bt_pid();
    }
    if (l->held)
        return l->held == (how ? 2 : 1) ? BT_OK : BT_BUSY;
    if (l->dir < 0 && (l->dir = bt_fs_open_folder(path, l->make_parents, "create", err)) < 0)
        return BT_FAIL;
    char spath[PATH_MAX];
    if (side(spath, sizeof spath, path, ".state") != 0)
        return bt_fail(err, "use", ENAMETOOLONG, NULL);
    int r = bt_soft_try(&l->state, spath, err);
    if (r == BT_OK) {
        r = transition(l, path, how, err);
        bt_soft_release(&l->state, spath);
    }
    if (r == BT_OK) {
        l->held = how ? 2 : 1;
        int dir = how ? l->dir : l->rdir;
        l->beat = bt_beat_start(dir, l->name, l->name, l->fd, l->dev, l->ino, l->stale, l->every);
        if (!l->beat) { /* unrefreshed, the marker would soon be evicted under us */
            int saved = errno;
            give_back(l, path);
            return bt_fail(err, "start the heartbeat of", saved, NULL);
        }
    } else if (!l->claimed && l->fd < 0 && l->dir >= 0) {
        close(l->dir);
        l->dir = -1;
    }
    return r;
}

int bt_softrw_lost(const bt_softrw *l, char *why, size_t cap, const char **reason) {
    return l->held && l->owner == bt_pid() && bt_beat_lost(l->beat, why, cap, reason);
}

int bt_softrw_lostfd(const bt_softrw *l) { return l->held ? bt_beat_fd(l->beat) : -1; }

static int softrw_held(const void *state) {
    const bt_softrw *l = state;
    char why[512];
    if (l->owner != bt_pid() || bt_beat_lost(l->beat, why, sizeof why, NULL))
        return 0;
    return l->held;
}

static void give_back(bt_softrw *l, const char *path) {
    bt_beat_stop(l->beat);
    l->beat = NULL;
    drop_marker(l, l->held == 1 ? l->rdir : l->dir, path);
    if (l->rdir >= 0)
        close(l->rdir);
    if (l->dir >= 0)
        close(l->dir);
    l->rdir = l->dir = -1;
    l->held = l->claimed = 0;
}

void bt_softrw_abandon(bt_softrw *l, const char *path) {
    if (l->claimed && !l->held)
        give_back(l, path);
}

static void softrw_release(void *state, const char *path) {
    bt_softrw *l = state;
    if (l->owner != bt_pid()) { /* a forked child: its copies only */
        l->owner = bt_pid();
        if (l->fd >= 0)
            close(l->fd);
        l->fd = -1;
        l->held = l->claimed = 0;
        bt_beat_stop(l->beat);
        l->beat = NULL;
        if (l->dir >= 0)
            close(l->dir);
        if (l->rdir >= 0)
            close(l->rdir);
        l->dir = l->rdir = -1;
        return;
    }
    give_back(l, path);
}

static void softrw_end(void *state, const char *path) {
    bt_softrw *l = state;
    softrw_release(l, path);
    char spath[PATH_MAX];
    if (side(spath, sizeof spath, path, ".state") == 0)
        bt_soft_release(&l->state, spath);
}

const bt_kind bt_softrw_kind = {"baton.soft_rw", "soft read/write lock", sizeof(bt_softrw),
                                held_names, softrw_try, bt_kind_pause, NULL, softrw_held,
                                NULL, softrw_release, softrw_end};

/* The pid and host of a marker (parsed by parse() before). */
static int describe(int dir, const char *name, bt_softrw_marker *m) {
    int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return 0;
    struct stat st;
    char buf[MARKER_MAX + 1], token[33];
    ssize_t n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? read(fd, buf, MARKER_MAX) : -1;
    close(fd);
    if (n <= 0 || !bt_marker_parse_rw(buf, (size_t)n, token, &m->pid, m->host, sizeof m->host))
        return 0;
    m->mtime = bt_os_mtime(&st);
    return 1;
}

int bt_softrw_markers(const char *path, bt_softrw_marker *out, int max) {
    bt_err err;
    int dir = bt_fs_open_folder(path, 0, "use", &err);
    if (dir < 0) {
        errno = err.code;
        return -1;
    }
    const char *name = bt_fs_last_name(path);
    char side_name[300];
    int n = 0;
    snprintf(side_name, sizeof side_name, "%s.write", name);
    if (n < max && describe(dir, side_name, &out[n])) {
        out[n].write = 1;
        n++;
    }
    snprintf(side_name, sizeof side_name, "%s.readers", name);
    int rdir = openat(dir, side_name, OPEN_DIR);
    close(dir);
    DIR *d = rdir >= 0 ? fdopendir(rdir) : NULL;
    if (!d) {
        if (rdir >= 0)
            close(rdir);
        return n;
    }
    struct dirent *e;
    while (n < max && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strstr(e->d_name, ".break"))
            continue;
        if (describe(dirfd(d), e->d_name, &out[n])) {
            out[n].write = 0;
            n++;
        }
    }
    closedir(d);
    return n;
}
