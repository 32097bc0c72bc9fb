/* The lock files of read/write locks on POSIX (rw_file.h): the descriptors that outlive
 * every connection, shared by all of this process's connections to one inode. */
#define _GNU_SOURCE
#include "rw_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lock_path.h"
#include "os/os.h"

/* Where SQLite's PENDING lock lives in the file (its default, which filelock keeps). */
#define PENDING_BYTE 0x40000000

typedef struct probe {
    bt_rw_id id;
    int users;       /* connections of this process to the file */
    int nfds;        /* descriptors kept open: one, more only after a race between opens */
    int *fds;
    struct probe *next;
} probe;

static probe *probes;

/* Lua states on other threads may share the process; SQLite lends applications a mutex. */
static sqlite3_mutex *registry_mutex(void) {
    return sqlite3_mutex_alloc(SQLITE_MUTEX_STATIC_APP1);
}


static void id_of(const struct stat *st, bt_rw_id *id) {
    id->dev = (unsigned long long)st->st_dev;
    id->ino = (unsigned long long)st->st_ino;
}

static int same(const bt_rw_id *a, const bt_rw_id *b) {
    return a->dev == b->dev && a->ino == b->ino;
}

static probe *find(const bt_rw_id *id) {
    for (probe *p = probes; p; p = p->next)
        if (same(&p->id, id))
            return p;
    return NULL;
}

/* Keep `fd` (and count one more user) for the file described by `st`. */
static int keep(int fd, const bt_rw_id *id, bt_err *err) {
    probe *p = find(id);
    if (!p) {
        p = calloc(1, sizeof *p);
        if (!p)
            return bt_fail(err, "open", ENOMEM, NULL);
        p->id = *id;
        p->next = probes;
        probes = p;
    }
    int *fds = realloc(p->fds, (size_t)(p->nfds + 1) * sizeof *fds);
    if (!fds) {
        if (p->users == 0) {
            probes = p->next; /* just added at the head */
            free(p);
        }
        return bt_fail(err, "open", ENOMEM, NULL);
    }
    p->fds = fds;
    p->fds[p->nfds++] = fd;
    p->users++;
    return BT_OK;
}

static int get_locked(const char *path, mode_t mode, int make_parents, int *fd_out,
                      bt_rw_id *id, int *fresh, bt_err *err) {
    /* A file this process already uses: share its descriptor rather than open (and later
     * close) another one, which would drop the locks held through the others. */
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        id_of(&st, id);
        probe *p = find(id);
        if (p) {
            p->users++;
            *fd_out = p->fds[0];
            *fresh = 0;
            return BT_OK;
        }
    }
    int fd = bt_fs_open_lock(path, mode, make_parents, err);
    if (fd < 0)
        return BT_FAIL;
    if (fstat(fd, &st) != 0) {
        int saved = errno;
        close(fd);
        return bt_fail(err, "stat", saved, NULL);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return bt_fail(err, "use", EINVAL, "not a regular file");
    }
    id_of(&st, id);
    *fresh = find(id) == NULL;
    if (keep(fd, id, err) != BT_OK) {
        close(fd);
        return BT_FAIL;
    }
    *fd_out = fd;
    return BT_OK;
}

int bt_rw_file_get(const char *path, mode_t mode, int make_parents, int *fd, bt_rw_id *id,
                   int *fresh, bt_err *err) {
    sqlite3_mutex *m = registry_mutex();
    sqlite3_mutex_enter(m);
    int rc = get_locked(path, mode, make_parents, fd, id, fresh, err);
    sqlite3_mutex_leave(m);
    return rc;
}

/* 1 when a single connection of this process is on the file. */
static int alone(const bt_rw_id *id) {
    sqlite3_mutex *m = registry_mutex();
    sqlite3_mutex_enter(m);
    probe *p = find(id);
    int one = p && p->users == 1;
    sqlite3_mutex_leave(m);
    return one;
}

/* Through the descriptor's /proc name where there is one: this file, whatever the path
 * names now. */
const char *bt_rw_file_name(int fd, const char *path, char *buf, size_t cap) {
    return bt_os_fd_name(fd, buf, cap) > 0 ? buf : path;
}

/* SQLite opened the descriptor's own name, or the path, which the caller checks. */
int bt_rw_file_opened(sqlite3_file *f, int fd) {
    (void)f;
    (void)fd;
    return 1;
}

int bt_rw_file_at(const char *path, const bt_rw_id *id) {
    struct stat st;
    bt_rw_id now;
    if (lstat(path, &st) != 0)
        return 0;
    id_of(&st, &now);
    return same(&now, id);
}

/* Any peer may unlink or rename the file at any time. */
int bt_rw_file_stays(void) { return 0; }

long bt_rw_file_head(int fd, unsigned char *buf, size_t n) {
    return (long)pread(fd, buf, n, 0);
}

/* SQLite lets a reader in without looking when another connection of this process already
 * reads; asking the kernel whether another process holds PENDING costs one call. */
int bt_rw_file_pending(int fd) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_RDLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = PENDING_BYTE;
    fl.l_len = 1;
    return fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
}

/* Waiters watch for a descriptor on the file being closed, and a release through SQLite
 * closes nothing: open and close the file once, through our descriptor's /proc name (so it
 * is this file, whatever the path names now) - but only when no other connection of this
 * process is on it, as closing any descriptor on the file drops the process's record locks
 * there. */
void bt_rw_file_ring(int fd, const bt_rw_id *id) {
    if (!alone(id))
        return;
    char name[48];
    if (bt_os_fd_name(fd, name, sizeof name) == 0)
        return; /* no such name here: waiters back off instead */
    int w = open(name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (w >= 0)
        close(w);
}

int bt_rw_file_errno(int sys) { return sys; }

long bt_rw_file_read(dev_t dev, ino_t ino, char *buf, size_t cap) {
    bt_rw_id id = {(unsigned long long)dev, (unsigned long long)ino};
    sqlite3_mutex *m = registry_mutex();
    sqlite3_mutex_enter(m);
    probe *p = find(&id);
    long n = p ? 0 : -2;
    while (p && (size_t)n < cap) {
        ssize_t r = pread(p->fds[0], buf + n, cap - (size_t)n, (off_t)n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            n = -1;
        if (r <= 0)
            break;
        n += r;
    }
    int saved = errno;
    sqlite3_mutex_leave(m);
    errno = saved;
    return n;
}

void bt_rw_file_put(int fd, const bt_rw_id *id) {
    (void)fd; /* one of the probe's, closed with the last user */
    sqlite3_mutex *m = registry_mutex();
    sqlite3_mutex_enter(m);
    for (probe **pp = &probes; *pp; pp = &(*pp)->next) {
        probe *p = *pp;
        if (!same(&p->id, id))
            continue;
        if (--p->users == 0) {
            for (int i = 0; i < p->nfds; i++)
                close(p->fds[i]);
            *pp = p->next;
            free(p->fds);
            free(p);
        }
        break;
    }
    sqlite3_mutex_leave(m);
}
