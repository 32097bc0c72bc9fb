/* The file-system checks and helpers shared by every kind of lock that opens a lock path.
 *
 * In a world-writable sticky folder (/tmp, /var/tmp, /dev/shm) anybody may create entries,
 * and a symbolic link there is a way for one user to steer another user's files: root's
 * lock at /tmp/jobs/build.lock lands in /root/x/ when another user made /tmp/jobs a link to
 * /root/x. The kernel's protected_symlinks rule forbids following such a link unless its
 * owner is the follower or the folder's owner, but only for the last component of a path;
 * bt_fs_vet applies the same rule to every folder on the way. */
#define _GNU_SOURCE
#include "lock_path.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* As many links as the kernel follows in one lookup. */
#define MAX_LINKS 40
/* Paths up to this long are checked in a buffer on the stack. */
#define SHORT_PATH 512

/* The detail of the last refusal on this thread (bt_err.detail points here). */
static _Thread_local char why[1024];

static int walk(const char *path, int whole, int *links);

/* The folder holding the entry named by the first `len` bytes of `path`, into a fresh
 * string (NULL when out of memory). */
static char *folder_of(const char *path, size_t len) {
    size_t n = len;
    while (n > 0 && path[n - 1] != '/')
        n--;
    while (n > 1 && path[n - 1] == '/')
        n--; /* "a//b": the folder is "a" */
    if (n == 0)
        return strdup(".");
    char *dir = malloc(n + 1);
    if (dir) {
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    return dir;
}

static int refuse(const char *link, const struct stat *ls, const char *dir,
                  const struct stat *ds) {
    snprintf(why, sizeof why,
             "the folder '%s' on its path is a symbolic link owned by uid %ld in the "
             "world-writable sticky folder '%s' (owned by uid %ld): a link planted by another "
             "user is not followed",
             link, (long)ls->st_uid, dir, (long)ds->st_uid);
    errno = ELOOP;
    return -1;
}

/* A folder anybody may add entries to and only their owners may rename or remove: where a
 * link planted by another user can lie. */
static int risky(const struct stat *st) {
    return S_ISDIR(st->st_mode) && (st->st_mode & (S_ISVTX | S_IWOTH)) == (S_ISVTX | S_IWOTH);
}

/* The link's target, resolved against the link's folder, into a fresh string. */
static char *target_of(const char *link, const char *dir, const struct stat *ls) {
    size_t cap = ls->st_size > 0 ? (size_t)ls->st_size + 1 : 4096;
    char *t = malloc(cap);
    if (!t)
        return NULL;
    ssize_t n = readlink(link, t, cap);
    if (n < 0 || (size_t)n >= cap) {
        free(t);
        return NULL; /* changed meanwhile: the open meets whatever is there */
    }
    t[n] = '\0';
    if (t[0] == '/')
        return t;
    size_t dl = strlen(dir);
    char *full = malloc(dl + 1 + (size_t)n + 1);
    if (full) {
        memcpy(full, dir, dl);
        full[dl] = '/';
        memcpy(full + dl + 1, t, (size_t)n + 1);
    }
    free(t);
    return full;
}

/* The entry at `prefix`, a folder on the way: 0 to go on, 1 when it does not exist (or
 * cannot be seen: nothing beyond it can be reached), -1 with errno set to refuse. A link
 * may be followed when its folder is not risky or its owner is this process's user or the
 * folder's; its target's folders are then checked too (a link of root's may lead through a
 * planted one). */
static int check_entry(const char *prefix, int *links) {
    struct stat ls, ds;
    if (lstat(prefix, &ls) != 0)
        return 1;
    if (!S_ISLNK(ls.st_mode))
        return 0;
    char *dir = folder_of(prefix, strlen(prefix));
    if (!dir)
        return 0;
    int r = 0;
    if (ls.st_uid != geteuid()) {
        if (stat(dir, &ds) != 0) {
            snprintf(why, sizeof why, "the folder of the symbolic link '%s' on its path cannot "
                     "be examined", prefix);
            errno = ELOOP;
            r = -1;
        } else if (risky(&ds) && ls.st_uid != ds.st_uid)
            r = refuse(prefix, &ls, dir, &ds);
    }
    if (r == 0 && ++*links > MAX_LINKS) {
        snprintf(why, sizeof why, "too many symbolic links on its path (at '%s')", prefix);
        errno = ELOOP;
        r = -1;
    }
    if (r == 0) {
        char *target = target_of(prefix, dir, &ls);
        if (target)
            r = walk(target, 1, links) < 0 ? -1 : 0;
        free(target);
    }
    free(dir);
    return r;
}

/* Check the folders of `path`; with `whole`, its last component too (a link's target is a
 * folder on the way). 0, or -1 with errno set. */
static int walk(const char *path, int whole, int *links) {
    size_t len = strlen(path);
    char small[SHORT_PATH];
    char *buf = len < sizeof small ? small : malloc(len + 1);
    if (!buf)
        return 0; /* out of memory: the open will fail on its own */
    memcpy(buf, path, len + 1);
    size_t stop = len;
    if (!whole) {
        while (stop > 0 && buf[stop - 1] != '/')
            stop--;
        stop = stop > 0 ? stop - 1 : 0; /* the slash before the last name */
    }
    int r = 0;
    for (size_t i = 1; i <= stop && r == 0; i++) {
        if ((i < stop && buf[i] != '/') || buf[i - 1] == '/')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        r = check_entry(buf, links);
        buf[i] = c;
    }
    if (buf != small)
        free(buf);
    return r < 0 ? -1 : 0;
}

int bt_fs_vet(const char *path, bt_err *err) {
    int links = 0;
    if (walk(path, 0, &links) == 0)
        return BT_OK;
    err->op = "use";
    err->code = ELOOP;
    err->detail = why;
    return BT_FAIL;
}

int bt_make_parent_folders(const char *path) {
    char *copy = strdup(path);
    if (!copy)
        return -1;
    int rc = 0, links = 0;
    char *slash = strrchr(copy, '/');
    if (slash && slash != copy) {
        *slash = '\0';
        for (char *p = copy + 1; rc == 0; p++) {
            if (*p != '/' && *p != '\0')
                continue;
            char c = *p;
            *p = '\0';
            if (mkdir(copy, 0777) != 0) {
                if (errno != EEXIST)
                    rc = -1;
                else if (check_entry(copy, &links) < 0)
                    rc = -1; /* a planted link: create nothing through it */
            }
            *p = c;
            if (c == '\0')
                break;
        }
    }
    int saved = errno;
    free(copy);
    errno = saved;
    return rc;
}

void bt_apply_mode(int fd, mode_t mode) {
    if (mode & BT_MODE_EXACT)
        (void)fchmod(fd, BT_MODE_BITS(mode)); /* where the file system refuses: the umask's */
}

#ifdef __linux__
#include <linux/openat2.h>
#include <sys/syscall.h>
/* open(2) that fails with ELOOP when any component of the path is a symbolic link: a path
 * without links needs no further check. -1 with errno ENOSYS where the kernel lacks it. */
static int open_linkless(const char *path, int flags, mode_t mode) {
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
#else
static int open_linkless(const char *path, int flags, mode_t mode) {
    (void)path;
    (void)flags;
    (void)mode;
    errno = ENOSYS;
    return -1;
}
#endif

/* Why the lock file could not be opened. A symbolic link at the path is refused by
 * O_NOFOLLOW with ELOOP, but may show as EACCES first: in a sticky folder, opening with
 * O_CREAT what another user owns there is denied before the link is looked at. Say what it
 * is, whatever the kernel said. */
static int open_failed(const char *path, int code, bt_err *err) {
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
        return bt_fail(err, "use", ELOOP, "it is a symbolic link");
    return bt_fail(err, "open", code, NULL);
}

int bt_fs_open_lock(const char *path, mode_t mode, int make_parents, bt_err *err) {
    /* O_NONBLOCK: opening a FIFO must not hang; the caller refuses what is not a file. */
    const int common = O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK;
    int fd = -1;
    if (!(mode & BT_MODE_EXACT))
        fd = open_linkless(path, O_RDWR | O_CREAT | common, BT_MODE_BITS(mode));
    if (fd >= 0)
        return fd; /* the common case: no link anywhere on the path, nothing more to check */
    if (bt_fs_vet(path, err) != BT_OK) /* no planted link among its folders */
        return -1;
    fd = bt_open_create(path, O_RDWR | common, mode);
    if (fd < 0 && (errno == EACCES || errno == EROFS)) {
        /* locks need no write access: an existing file we may only read still locks */
        int saved = errno;
        fd = open(path, O_RDONLY | common);
        if (fd < 0)
            errno = saved;
    }
    if (fd < 0 && errno == ENOENT && make_parents) {
        if (bt_make_parent_folders(path) != 0)
            return bt_fail(err, "create the folder of", errno, NULL);
        fd = bt_open_create(path, O_RDWR | common, mode);
    }
    if (fd < 0)
        return open_failed(path, errno, err);
    return fd;
}

int bt_open_create(const char *path, int flags, mode_t mode) {
    if (!(mode & BT_MODE_EXACT))
        return open(path, flags | O_CREAT, BT_MODE_BITS(mode));
    /* Tell a file we create from one that is there: only ours gets the mode. A file
     * removed between the two opens is looked for again, a few times. */
    for (int tries = 0; tries < 16; tries++) {
        int fd = open(path, flags | O_CREAT | O_EXCL, BT_MODE_BITS(mode));
        if (fd >= 0) {
            bt_apply_mode(fd, mode);
            return fd;
        }
        if (errno != EEXIST)
            return -1;
        fd = open(path, flags);
        if (fd >= 0 || errno != ENOENT)
            return fd;
    }
    return -1;
}
