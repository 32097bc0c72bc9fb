/* The file-system checks and helpers shared by every kind of lock that opens a lock path.
 *
 * In a world-writable sticky folder (/tmp, /var/tmp, /dev/shm) anybody may create entries,
 * and a symbolic link there is a way for one user to steer another user's files: root's
 * lock at /tmp/jobs/build.lock lands in /root/x/ when another user made /tmp/jobs a link to
 * /root/x. The kernel's protected_symlinks rule forbids following such a link unless its
 * owner is the follower or the folder's owner, but only for the last component of a path;
 * bt_fs_vet applies the same rule to every folder on the way. */
#define _GNU_SOURCE
#include "bt_fs.h"

#include <errno.h>
#include <stdio.h>
#include <stdatomic.h>
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

/* The link at `link` (lstat'd into *ls) lies in the risky folder `dir` (stat'd into *ds):
 * may this process follow it? */
static int may_follow(const char *link, const struct stat *ls, const char *dir,
                      const struct stat *ds) {
    if (ls->st_uid == geteuid() || ls->st_uid == ds->st_uid)
        return 0;
    return refuse(link, ls, dir, ds);
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

/* The symbolic link at `prefix` (lstat'd into *ls), a folder on the way whose folder is
 * *ps: refuse it, or check its target's folders too. 0, or -1 with errno set. */
static int check_link(const char *prefix, const struct stat *ls, const struct stat *ps,
                      int *links) {
    char *dir = folder_of(prefix, strlen(prefix));
    if (!dir)
        return 0;
    int r = risky(ps) ? may_follow(prefix, ls, dir, ps) : 0;
    if (r == 0 && ++*links > MAX_LINKS) {
        snprintf(why, sizeof why, "too many symbolic links on its path (at '%s')", prefix);
        errno = ELOOP;
        r = -1;
    }
    if (r == 0) {
        char *target = target_of(prefix, dir, ls);
        if (target)
            r = walk(target, 1, links);
        free(target);
    }
    free(dir);
    return r;
}

/* The folder a path starts from: "/" (looked at once: it does not become a sticky
 * world-writable folder while a program runs) or the working folder. */
static int start_folder(const char *path, struct stat *st) {
    static struct stat root;
    static _Atomic int have_root;
    if (path[0] != '/')
        return stat(".", st);
    if (!have_root) {
        if (stat("/", &root) != 0)
            return -1;
        have_root = 1;
    }
    *st = root;
    return 0;
}

/* Check the folders of `path`; with `whole`, its last component too (a link's target is a
 * folder on the way). A folder is looked at only when it lies in a risky folder (it may be
 * a planted link) or when the next one does (its mode says whether the next one is risky):
 * /tmp/x.lock costs nothing, /var/lock/x.lock one lstat. 0, or -1 with errno set. */
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
    struct stat parent;
    int r = 0, known = stop > 0 && start_folder(buf, &parent) == 0;
    for (size_t i = 1; i <= stop && known && r == 0; i++) {
        if ((i < stop && buf[i] != '/') || buf[i - 1] == '/')
            continue;
        size_t next = i;
        while (next < stop && buf[next] == '/')
            next++;
        int last = next >= stop; /* no folder after this one to check */
        if (last && !risky(&parent))
            break;
        char c = buf[i];
        buf[i] = '\0';
        struct stat ls;
        if (lstat(buf, &ls) != 0)
            known = 0; /* nothing beyond it can be reached */
        else if (S_ISLNK(ls.st_mode)) {
            r = check_link(buf, &ls, &parent, links);
            if (r == 0 && !last)
                known = stat(buf, &parent) == 0;
        } else
            parent = ls;
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
                else if (walk(copy, 1, &links) < 0)
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
