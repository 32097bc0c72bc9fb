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
#include "os/os.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
static _Thread_local char why[4096];

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

void bt_apply_mode(int fd, mode_t mode) {
    if (mode & BT_MODE_EXACT)
        (void)fchmod(fd, BT_MODE_BITS(mode)); /* where the file system refuses: the umask's */
}

/* open(2) that fails with ELOOP when any component of the path is a symbolic link: a path
 * without links needs no further check. -1 with errno ENOSYS where the system lacks it. */
static int open_linkless(const char *path, int flags, mode_t mode) {
    return bt_os_open_nolinks(path, flags, mode);
}

/* Why the lock file could not be opened. A symbolic link at the path is refused by
 * O_NOFOLLOW with ELOOP, but may show as EACCES first: in a sticky folder, opening with
 * O_CREAT what another user owns there is denied before the link is looked at. Say what it
 * is, whatever the kernel said. */
static int open_failed(int dir, const char *name, int code, bt_err *err) {
    struct stat st;
    if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
        return bt_fail(err, "use", ELOOP, "it is a symbolic link");
    return bt_fail(err, "open", code, NULL);
}

int bt_fs_openat(int dir, const char *name, int flags, mode_t mode) {
    if (dir == BT_FS_BY_PATH)
        return open_linkless(name, flags, mode);
    return openat(dir, name, flags, mode);
}

const char *bt_fs_last_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* ---- the folder of a lock path, as a descriptor ----------------------------------------
 *
 * Checking a path and then opening it by name leaves a window in which another user swaps a
 * folder of the path for a link. The folder is instead resolved once, component by
 * component, each one opened relative to the descriptor of the one before and never through
 * a link the rules below refuse; the lock's files are then made and opened relative to the
 * folder's descriptor, which no later change to the path can redirect. */

#define WALK_RETRIES 16 /* an entry swapped under us this often in a row: give up */

typedef struct walk_state {
    int links;
    int make_parents;
    const char *op;        /* for a failure to look a folder up */
    bt_err *err;
    uid_t euid;
    int tainted;           /* passed through another user's folder inside a sticky one */
    uid_t taint_uid;
    char taint_dir[1024];  /* that folder, and the sticky folder holding it */
    char taint_top[1024];
    char shown[1024];      /* the path walked so far, for messages */
} walk_state;

static int walk_fail(walk_state *w, const char *op, int code, const char *detail) {
    w->err->op = op;
    w->err->code = code;
    w->err->detail = detail;
    return -1;
}

/* Append one name to the path shown in messages (".." takes the last one away). */
static void shown_push(walk_state *w, const char *name, size_t len) {
    if (len == 2 && name[0] == '.' && name[1] == '.') {
        char *s = strrchr(w->shown, '/');
        if (!s)
            w->shown[0] = '\0';
        else
            s[s == w->shown ? 1 : 0] = '\0';
        return;
    }
    size_t n = strlen(w->shown);
    if (n > 0 && w->shown[n - 1] != '/' && n + 1 < sizeof w->shown)
        w->shown[n++] = '/';
    if (n + len < sizeof w->shown) {
        memcpy(w->shown + n, name, len);
        w->shown[n + len] = '\0';
    }
}

/* The folder at the descriptor `fd` becomes the current one. */
static int enter(int *cur, struct stat *cur_st, int fd, walk_state *w) {
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int saved = errno;
        close(fd);
        return walk_fail(w, w->op, saved, NULL);
    }
    close(*cur);
    *cur = fd;
    *cur_st = st;
    return 0;
}

/* Whether a link may be followed: not beneath another user's folder in a sticky one, and
 * in a sticky one only when its owner is us or the folder's owner. 0, or -1 (refused). */
static int may_follow(walk_state *w, const struct stat *dir, const struct stat *ls,
                      const char *link, const char *dir_shown) {
    if (w->tainted) {
        snprintf(why, sizeof why,
                 "the symbolic link '%s' on its path lies in '%s', a folder of uid %ld inside "
                 "the world-writable sticky folder '%s': a link there is not followed",
                 link, w->taint_dir, (long)w->taint_uid, w->taint_top);
        return walk_fail(w, "use", ELOOP, why);
    }
    if (risky(dir) && ls->st_uid != w->euid && ls->st_uid != dir->st_uid) {
        refuse(link, ls, dir_shown[0] ? dir_shown : ".", dir);
        return walk_fail(w, "use", ELOOP, why);
    }
    if (++w->links > MAX_LINKS) {
        snprintf(why, sizeof why, "too many symbolic links on its path (at '%s')", link);
        return walk_fail(w, "use", ELOOP, why);
    }
    return 0;
}

/* Resolve `todo` (a fresh string, freed here) from the folder *cur. 0 with *cur the folder
 * reached, or -1 with w->err filled in. */
static int resolve(int *cur, struct stat *cur_st, char *todo, walk_state *w) {
    size_t pos = 0;
    int r = 0;
    while (r == 0) {
        while (todo[pos] == '/')
            pos++;
        if (!todo[pos])
            break;
        size_t len = strcspn(todo + pos, "/");
        char name[NAME_MAX + 1];
        if (len > NAME_MAX) {
            r = walk_fail(w, w->op, ENAMETOOLONG, NULL);
            break;
        }
        memcpy(name, todo + pos, len);
        name[len] = '\0';
        pos += len;
        if (strcmp(name, ".") == 0)
            continue;
        if (strcmp(name, "..") == 0) {
            int fd = openat(*cur, "..", BT_O_DIRPATH | O_DIRECTORY | O_CLOEXEC);
            if (fd < 0)
                r = walk_fail(w, w->op, errno, NULL);
            else if ((r = enter(cur, cur_st, fd, w)) == 0)
                shown_push(w, name, len);
            continue;
        }
        char dir_shown[sizeof w->shown];
        memcpy(dir_shown, w->shown, sizeof dir_shown);
        shown_push(w, name, len);
        int tries = 0;
        for (;;) {
            if (++tries > WALK_RETRIES) {
                snprintf(why, sizeof why, "the folder '%s' on its path keeps changing", w->shown);
                r = walk_fail(w, "use", ELOOP, why);
                break;
            }
            struct stat st;
            if (fstatat(*cur, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
                if (errno == ENOENT && w->make_parents) {
                    if (mkdirat(*cur, name, 0777) != 0 && errno != EEXIST) {
                        r = walk_fail(w, "create the folder of", errno, NULL);
                        break;
                    }
                    continue; /* and look again: it may have been swapped meanwhile */
                }
                r = walk_fail(w, w->op, errno, NULL);
                break;
            }
            if (S_ISDIR(st.st_mode)) {
                int fd = openat(*cur, name, BT_O_DIRPATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0) {
                    if (errno == ELOOP || errno == ENOTDIR || errno == ENOENT)
                        continue; /* swapped for something else as we looked */
                    r = walk_fail(w, w->op, errno, NULL);
                    break;
                }
                struct stat parent = *cur_st;
                if ((r = enter(cur, cur_st, fd, w)) != 0)
                    break;
                if (!w->tainted && risky(&parent) && cur_st->st_uid != w->euid &&
                    cur_st->st_uid != parent.st_uid) {
                    w->tainted = 1;
                    w->taint_uid = cur_st->st_uid;
                    snprintf(w->taint_dir, sizeof w->taint_dir, "%s", w->shown);
                    snprintf(w->taint_top, sizeof w->taint_top, "%s", dir_shown);
                }
                break;
            }
            if (!S_ISLNK(st.st_mode)) {
                r = walk_fail(w, w->op, ENOTDIR, NULL);
                break;
            }
            char link_shown[sizeof w->shown];
            memcpy(link_shown, w->shown, sizeof link_shown);
            if ((r = may_follow(w, cur_st, &st, link_shown, dir_shown)) != 0)
                break;
            char target[PATH_MAX];
            ssize_t n = readlinkat(*cur, name, target, sizeof target);
            struct stat again;
            if (n < 0 || (size_t)n >= sizeof target ||
                fstatat(*cur, name, &again, AT_SYMLINK_NOFOLLOW) != 0 ||
                again.st_ino != st.st_ino || again.st_dev != st.st_dev ||
                again.st_uid != st.st_uid || !S_ISLNK(again.st_mode)) {
                w->links--;
                continue; /* changed meanwhile: look again */
            }
            target[n] = '\0';
            if (n == 0) {
                r = walk_fail(w, w->op, ENOENT, NULL);
                break;
            }
            /* The rest of the walk is the target, then what followed the link. */
            size_t rest = strlen(todo + pos);
            char *next = malloc((size_t)n + 1 + rest + 1);
            if (!next) {
                r = walk_fail(w, w->op, ENOMEM, NULL);
                break;
            }
            memcpy(next, target, (size_t)n);
            next[n] = '/';
            memcpy(next + n + 1, todo + pos, rest + 1);
            free(todo);
            todo = next;
            pos = 0;
            if (target[0] == '/') {
                int fd = open("/", BT_O_DIRPATH | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0) {
                    r = walk_fail(w, w->op, errno, NULL);
                    break;
                }
                if ((r = enter(cur, cur_st, fd, w)) != 0)
                    break;
                snprintf(w->shown, sizeof w->shown, "/");
            } else {
                memcpy(w->shown, dir_shown, sizeof w->shown);
            }
            break;
        }
    }
    free(todo);
    return r;
}

/* The folder part of `path`: a fresh string ("." or "/" when there is none to cut). */
static char *folder_part(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    size_t n = (size_t)(slash - path);
    char *dir = malloc(n + 1);
    if (dir) {
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    return dir;
}

/* A folder opened with no link on the way: -1 when there is one (or any other trouble, or
 * no way to tell): the walk then tells. */
static int folder_linkless(const char *dir) {
    return open_linkless(dir, BT_O_DIRPATH | O_DIRECTORY | O_CLOEXEC, 0);
}

int bt_fs_open_folder(const char *path, int make_parents, const char *op, bt_err *err) {
    /* As open(2) would: the walk below works relative to descriptors and knows no limit, and
     * would otherwise make thousands of nested folders for one absurd path. */
    if (strlen(path) >= PATH_MAX)
        return bt_fail(err, op, ENAMETOOLONG, NULL);
    char *dir = folder_part(path);
    if (!dir)
        return bt_fail(err, op, ENOMEM, NULL);
    int fd = folder_linkless(dir);
    if (fd >= 0) {
        free(dir);
        return fd; /* the common case: no link on the way */
    }
    walk_state *w = malloc(sizeof *w);
    if (!w) {
        free(dir);
        return bt_fail(err, op, ENOMEM, NULL);
    }
    memset(w, 0, sizeof *w);
    w->make_parents = make_parents;
    w->op = op;
    w->err = err;
    w->euid = geteuid();
    snprintf(w->shown, sizeof w->shown, "%s", dir[0] == '/' ? "/" : "");
    int cur = open(dir[0] == '/' ? "/" : ".", BT_O_DIRPATH | O_DIRECTORY | O_CLOEXEC);
    struct stat cur_st;
    int r;
    if (cur < 0 || fstat(cur, &cur_st) != 0) {
        r = bt_fail(err, op, errno, NULL);
        free(dir);
    } else {
        r = resolve(&cur, &cur_st, dir, w); /* frees dir */
    }
    free(w);
    if (r != 0) {
        if (cur >= 0)
            close(cur);
        return -1;
    }
    return cur;
}

/* The name of the lock's file in its folder, or NULL (*err filled in) for a path that names
 * a folder. */
static const char *file_name(const char *path, bt_err *err) {
    const char *name = bt_fs_last_name(path);
    if (!*path) {
        bt_fail(err, "open", ENOENT, NULL);
        return NULL;
    }
    if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        bt_fail(err, "open", EISDIR, NULL);
        return NULL;
    }
    return name;
}

int bt_fs_open_lock(const char *path, mode_t mode, int make_parents, bt_err *err) {
    /* O_NONBLOCK: opening a FIFO must not hang; the caller refuses what is not a file. */
    const int common = O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK;
    int fd = -1;
    if (!(mode & BT_MODE_EXACT))
        fd = open_linkless(path, O_RDWR | O_CREAT | common, BT_MODE_BITS(mode));
    if (fd >= 0)
        return fd; /* the common case: no link anywhere on the path, nothing more to check */
    const char *name = file_name(path, err);
    if (!name)
        return -1;
    for (int round = 0; round < 2; round++) {
        int dir = bt_fs_open_folder(path, make_parents, "open", err);
        if (dir < 0)
            return -1;
        fd = bt_open_create_at(dir, name, O_RDWR | common, mode);
        if (fd < 0 && (errno == EACCES || errno == EROFS)) {
            /* locks need no write access: an existing file we may only read still locks */
            int saved = errno;
            fd = openat(dir, name, O_RDONLY | common);
            if (fd < 0)
                errno = saved;
        }
        if (fd < 0 && errno == ENOENT && make_parents && round == 0) {
            close(dir); /* the folder was removed as we came: make it again */
            continue;
        }
        if (fd < 0)
            open_failed(dir, name, errno, err);
        close(dir);
        break;
    }
    return fd;
}

int bt_open_create_at(int dir, const char *name, int flags, mode_t mode) {
    if (!(mode & BT_MODE_EXACT))
        return openat(dir, name, flags | O_CREAT, BT_MODE_BITS(mode));
    /* Tell a file we create from one that is there: only ours gets the mode. A file
     * removed between the two opens is looked for again, a few times. */
    for (int tries = 0; tries < 16; tries++) {
        int fd = openat(dir, name, flags | O_CREAT | O_EXCL, BT_MODE_BITS(mode));
        if (fd >= 0) {
            bt_apply_mode(fd, mode);
            return fd;
        }
        if (errno != EEXIST)
            return -1;
        fd = openat(dir, name, flags);
        if (fd >= 0 || errno != ENOENT)
            return fd;
    }
    return -1;
}

int bt_fs_replaced(const char *path, const struct stat *mine) {
    struct stat now;
    if (stat(path, &now) != 0)
        return 1;
    return now.st_ino != mine->st_ino || now.st_dev != mine->st_dev;
}
