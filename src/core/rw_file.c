/* The descriptors on SQLite lock files that outlive every connection (rw_file.h). */
#define _GNU_SOURCE
#include "rw_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include "lock_path.h"

typedef struct probe {
    dev_t dev;
    ino_t ino;
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

static probe *find(dev_t dev, ino_t ino) {
    for (probe *p = probes; p; p = p->next)
        if (p->dev == dev && p->ino == ino)
            return p;
    return NULL;
}


/* Keep `fd` (and count one more user) for the file described by `st`. */
static int keep(int fd, const struct stat *st, bt_err *err) {
    probe *p = find(st->st_dev, st->st_ino);
    if (!p) {
        p = calloc(1, sizeof *p);
        if (!p)
            return bt_fail(err, "open", ENOMEM, NULL);
        p->dev = st->st_dev;
        p->ino = st->st_ino;
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
                      struct stat *st, int *fresh, bt_err *err) {
    /* A file this process already uses: share its descriptor rather than open (and later
     * close) another one, which would drop the locks held through the others. */
    if (lstat(path, st) == 0 && S_ISREG(st->st_mode)) {
        probe *p = find(st->st_dev, st->st_ino);
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
    if (fstat(fd, st) != 0) {
        int saved = errno;
        close(fd);
        return bt_fail(err, "stat", saved, NULL);
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return bt_fail(err, "use", EINVAL, "not a regular file");
    }
    *fresh = find(st->st_dev, st->st_ino) == NULL;
    if (keep(fd, st, err) != BT_OK) {
        close(fd);
        return BT_FAIL;
    }
    *fd_out = fd;
    return BT_OK;
}

int bt_rw_file_get(const char *path, mode_t mode, int make_parents, int *fd, struct stat *st,
                 int *fresh, bt_err *err) {
    sqlite3_mutex *m = registry_mutex();
    sqlite3_mutex_enter(m);
    int rc = get_locked(path, mode, make_parents, fd, st, fresh, err);
    sqlite3_mutex_leave(m);
    return rc;
}

int bt_rw_file_alone(dev_t dev, ino_t ino) {
    sqlite3_mutex *m = registry_mutex();
    sqlite3_mutex_enter(m);
    probe *p = find(dev, ino);
    int alone = p && p->users == 1;
    sqlite3_mutex_leave(m);
    return alone;
}

long bt_rw_file_read(dev_t dev, ino_t ino, char *buf, size_t cap) {
    sqlite3_mutex *m = registry_mutex();
    sqlite3_mutex_enter(m);
    probe *p = find(dev, ino);
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

void bt_rw_file_put(dev_t dev, ino_t ino) {
    sqlite3_mutex *m = registry_mutex();
    sqlite3_mutex_enter(m);
    for (probe **pp = &probes; *pp; pp = &(*pp)->next) {
        probe *p = *pp;
        if (p->dev != dev || p->ino != ino)
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
