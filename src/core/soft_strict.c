/* Strict soft locks (soft_strict.h): the claim doorway of filelock's StrictSoftFileLock. */
#define _GNU_SOURCE
#include "soft_strict.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lock_path.h"
#include "os/os.h"
#include "pid.h"
#include "soft_lock.h"
#include "strict_claim.h"

#define SUFFIX BT_CLAIM_SUFFIX
#define CLAIMS BT_CLAIM_FOLDER
#define RECORD_MAX BT_CLAIM_RECORD_MAX
#define PRIVATE_GRACE BT_CLAIM_PRIVATE_GRACE

#define OPEN_DIR (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

/* ---- the claim folder ---------------------------------------------------------------- */

/* mkdirat, then open it: it must be a real folder, never a link. */
static int protocol_dir(int at, const char *name, bt_err *err) {
    if (mkdirat(at, name, 0777) != 0 && errno != EEXIST)
        return bt_fail(err, "create the claim folder of", errno, NULL), -1;
    int fd = openat(at, name, OPEN_DIR);
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP || e == ENOTDIR)
            bt_fail(err, "use", EPROTO, "its claim folder (PATH.filelock/claims) is not a real folder");
        else
            bt_fail(err, "open the claim folder of", e, NULL);
    }
    return fd;
}

static int open_claims(int dir, const char *name, int create, bt_err *err) {
    char coord[512];
    if (snprintf(coord, sizeof coord, "%s" SUFFIX, name) >= (int)sizeof coord)
        return bt_fail(err, "use", ENAMETOOLONG, NULL), -1;
    int c;
    if (create) {
        c = protocol_dir(dir, coord, err);
    } else if ((c = openat(dir, coord, OPEN_DIR)) < 0) {
        bt_fail(err, "open the claim folder of", errno, NULL);
    }
    if (c < 0)
        return -1;
    int k = create ? protocol_dir(c, CLAIMS, err) : openat(c, CLAIMS, OPEN_DIR);
    if (k < 0 && !create)
        bt_fail(err, "open the claim folder of", errno, NULL);
    close(c);
    return k;
}

/* ---- publishing a record: written in full under a private name, then linked ------------- */

/* Publish `record` as `name` in `dir`, never replacing: 0, or -1 with errno (EEXIST). */
static int publish(int dir, const char *name, const char *record, size_t len, mode_t mode) {
    char tmp[600];
    bt_claim_private_name(tmp, sizeof tmp, name);
    int fd = openat(dir, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, BT_MODE_BITS(mode));
    if (fd < 0)
        return -1;
    bt_apply_mode(fd, mode);
    int r = write(fd, record, len) == (ssize_t)len ? linkat(dir, tmp, dir, name, 0) : -1;
    int saved = r == 0 ? 0 : errno ? errno : ENOSPC;
    close(fd);
    unlinkat(dir, tmp, 0);
    errno = saved;
    return r;
}

/* A crashed publisher's private record of `public_ok` names: removed once old enough. */
static void reclaim_private(int dir, const char *name, const struct stat *st) {
    double age = (double)time(NULL) - bt_os_mtime(st);
    if (st->st_nlink > 1 || age >= PRIVATE_GRACE)
        unlinkat(dir, name, 0);
}

/* ---- scanning the claims -------------------------------------------------------------- */

typedef bt_claim_scan scan;

/* List the claims in `k`: BT_OK with *s, or BT_FAIL (a name that is no claim of this
 * protocol version: EPROTO). `mine`: our token, to note whether our claims are there. */
static int scan_claims(int k, const char *mine, scan *s, bt_err *err) {
    memset(s, 0, sizeof *s);
    int fd = dup(k);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return bt_fail(err, "list the claims of", e, NULL);
    }
    rewinddir(d);
    int r = BT_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        struct stat st;
        if (name[0] == '.') {
            if (bt_claim_is_private(name) && fstatat(k, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                reclaim_private(k, name, &st);
            continue;
        }
        const char *token;
        int held = bt_claim_state(name, &token);
        if (held < 0) {
            r = bt_fail(err, "use", EPROTO,
                        "its claim folder holds a name that is no claim of filelock-strict-v1");
            break;
        }
        if (fstatat(k, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue; /* gone since it was listed */
        bt_claim_count(s, name, held, token, mine);
    }
    closedir(d);
    return r;
}

/* ---- the sentinel --------------------------------------------------------------------- */

/* BT_OK when the sentinel is at the path (made now if missing), BT_BUSY when a soft lock's
 * marker is there instead, else BT_FAIL. */
static int sentinel(int dir, const char *name, mode_t mode, bt_err *err) {
    for (int round = 0; round < 4; round++) {
        int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 && errno == ENOENT) {
            if (publish(dir, name, BT_STRICT_SENTINEL, BT_STRICT_SENTINEL_LEN, mode) != 0 &&
                errno != EEXIST)
                return bt_fail(err, "create the sentinel of", errno, NULL);
            continue;
        }
        if (fd < 0)
            return bt_fail(err, "open", errno, errno == ELOOP ? "it is a symbolic link" : NULL);
        char buf[BT_MARKER_MAX + 1];
        struct stat st;
        ssize_t n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? read(fd, buf, sizeof buf) : -2;
        int saved = errno;
        close(fd);
        if (n == -2)
            return bt_fail(err, "use", EINVAL, "not a regular file");
        if (n < 0)
            return bt_fail(err, "read", saved, NULL);
        return bt_claim_sentinel(buf, (size_t)n, err);
    }
    return BT_BUSY;
}

/* ---- taking and giving back ----------------------------------------------------------- */

static int scan_op(void *k, const char *mine, bt_claim_scan *s, bt_err *err) {
    return scan_claims(*(int *)k, mine, s, err);
}
static int publish_op(void *k, const char *name, const char *record, size_t len, mode_t mode) {
    return publish(*(int *)k, name, record, len, mode);
}
static int link_op(void *k, const char *from, const char *to) {
    return linkat(*(int *)k, from, *(int *)k, to, 0);
}
static void unlink_op(void *k, const char *name) { unlinkat(*(int *)k, name, 0); }

static const bt_claim_ops claim_ops = {scan_op, publish_op, link_op, unlink_op};

/* The doorway in the claim folder k: BT_OK (our claims stay), BT_BUSY (none of ours left),
 * or BT_FAIL. */
static int doorway(bt_strict *l, int k, bt_err *err) {
    char start[BT_TOKEN_LEN];
    int dead;
    if (bt_proc_token(bt_pid(), start, &dead) == 0)
        start[0] = '\0';
    return bt_claim_doorway(&claim_ops, &k, l, (long)bt_pid(), bt_soft_host(), start, err);
}

static void forget(bt_strict *l) {
    if (l->claims >= 0)
        close(l->claims);
    l->claims = -1;
}

static int strict_try(void *state, const char *path, int how, bt_err *err, const char **named) {
    (void)how;
    (void)named;
    bt_strict *l = state;
    if (l->claims >= 0) {
        if (l->owner == bt_pid())
            return BT_OK;
        forget(l); /* inherited through fork(): the parent's claims, not ours */
    }
    const char *name = bt_fs_last_name(path);
    if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return bt_fail(err, "create", EISDIR, NULL);
    int dir = bt_fs_open_folder(path, l->make_parents, "create", err);
    if (dir < 0)
        return BT_FAIL;
    int k = open_claims(dir, name, 1, err);
    int r = k < 0 ? BT_FAIL : sentinel(dir, name, l->mode, err);
    close(dir);
    if (r == BT_OK)
        r = doorway(l, k, err);
    if (r == BT_OK) {
        l->claims = k;
        l->owner = bt_pid();
    } else if (k >= 0) {
        close(k);
    }
    return r;
}

static int strict_held(const void *state) {
    const bt_strict *l = state;
    return l->claims >= 0 && l->owner == bt_pid();
}

static void strict_release(void *state, const char *path) {
    (void)path;
    bt_strict *l = state;
    if (l->claims >= 0 && l->owner == bt_pid()) {
        unlinkat(l->claims, l->held, 0);
        unlinkat(l->claims, l->intent, 0);
    }
    forget(l);
}

/* Claims change in a folder nobody is told about: the generic schedule's pauses do. */
const bt_kind bt_strict_kind = {"baton.soft_strict", "strict soft lock", sizeof(bt_strict),
                                NULL, strict_try, bt_kind_pause, NULL, strict_held,
                                NULL, strict_release, strict_release};

/* ---- looking and breaking ------------------------------------------------------------- */

static void read_claim(int k, bt_claim *c) {
    int fd = openat(k, c->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return;
    char buf[RECORD_MAX + 1];
    struct stat st;
    int known = fstat(fd, &st) == 0;
    ssize_t n = known && S_ISREG(st.st_mode) ? read(fd, buf, sizeof buf) : -1;
    close(fd);
    if (known)
        c->mtime = bt_os_mtime(&st);
    if (n > 0 && n <= RECORD_MAX)
        bt_claim_parse(buf, (size_t)n, c);
}

/* The claim folder of `path` for reading: its descriptor, or -1 with errno. */
static int claims_of(const char *path) {
    bt_err err;
    int dir = bt_fs_open_folder(path, 0, "use", &err);
    if (dir < 0) {
        errno = err.code;
        return -1;
    }
    int k = open_claims(dir, bt_fs_last_name(path), 0, &err);
    close(dir);
    if (k < 0)
        errno = err.code;
    return k;
}

int bt_strict_claims(const char *path, bt_claim *out, int max) {
    int k = claims_of(path);
    if (k < 0)
        return -1;
    DIR *d = fdopendir(k);
    if (!d) {
        close(k);
        return -1;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < max) {
        const char *token;
        int held = bt_claim_state(e->d_name, &token);
        if (held < 0)
            continue;
        bt_claim *c = &out[n];
        memset(c, 0, sizeof *c);
        memcpy(c->name, e->d_name, strlen(e->d_name) + 1); /* a claim name: under 64 */
        memcpy(c->token, token, 32);
        c->held = held;
        read_claim(dirfd(d), c);
        if (c->mtime > 0)
            n++;
    }
    closedir(d);
    return n;
}

int bt_strict_break(const char *path, bt_err *err) {
    int k = claims_of(path);
    if (k < 0)
        return bt_fail(err, "break", errno, NULL), -1;
    scan s;
    int removed = 0;
    if (scan_claims(k, NULL, &s, err) != BT_OK) {
        close(k);
        return -1;
    }
    DIR *d = fdopendir(k);
    if (!d) {
        close(k);
        return bt_fail(err, "break", errno, NULL), -1;
    }
    rewinddir(d); /* the scan read it through a copy of the descriptor */
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (bt_claim_state(e->d_name, NULL) >= 0 && unlinkat(dirfd(d), e->d_name, 0) == 0)
            removed++;
    closedir(d);
    return removed;
}
