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

#define SUFFIX ".filelock"
#define CLAIMS "claims"
#define MAGIC "filelock-strict-v1"
#define RECORD_MAX 1024
#define PRIVATE_GRACE 2.0 /* a private record older than this is a crashed publisher's */

#define OPEN_DIR (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

static int is_hex(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* "intent-v1-TOKEN.claim" or "held-v1-TOKEN.claim": 1 (held), 0 (intent), or -1. */
static int claim_state(const char *name, const char **token) {
    int held = strncmp(name, "held-v1-", 8) == 0;
    size_t skip = held ? 8 : strncmp(name, "intent-v1-", 10) == 0 ? 10 : 0;
    if (!skip || strlen(name) != skip + 32 + 6 || strcmp(name + skip + 32, ".claim") != 0 ||
        !is_hex(name + skip, 32))
        return -1;
    if (token)
        *token = name + skip;
    return held;
}

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

static void private_name(char *out, size_t cap, const char *name) {
    unsigned long long a = bt_soft_random(), b = bt_soft_random();
    snprintf(out, cap, ".%s.private-v1-%016llx%016llx.tmp", name, a, b);
}

/* Publish `record` as `name` in `dir`, never replacing: 0, or -1 with errno (EEXIST). */
static int publish(int dir, const char *name, const char *record, size_t len, mode_t mode) {
    char tmp[600];
    private_name(tmp, sizeof tmp, name);
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

static int is_private_of_claim(const char *name) {
    const char *m = strstr(name, ".private-v1-");
    if (name[0] != '.' || !m)
        return 0;
    char pub[80];
    size_t n = (size_t)(m - name - 1);
    if (n >= sizeof pub)
        return 0;
    memcpy(pub, name + 1, n);
    pub[n] = '\0';
    return claim_state(pub, NULL) >= 0 && strlen(m) == 12 + 32 + 4 &&
           strcmp(m + 12 + 32, ".tmp") == 0;
}

/* ---- scanning the claims -------------------------------------------------------------- */

typedef struct scan {
    int n, any_held;
    char least_name[64];  /* the least name */
    char least_key[64];   /* the least "v1-TOKEN.claim" */
    int has_intent, has_held; /* ours, when asked */
} scan;

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
            if (is_private_of_claim(name) && fstatat(k, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                reclaim_private(k, name, &st);
            continue;
        }
        const char *token;
        int held = claim_state(name, &token);
        if (held < 0) {
            r = bt_fail(err, "use", EPROTO,
                        "its claim folder holds a name that is no claim of filelock-strict-v1");
            break;
        }
        if (fstatat(k, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue; /* gone since it was listed */
        s->n++;
        s->any_held |= held;
        if (!s->least_name[0] || strcmp(name, s->least_name) < 0)
            memcpy(s->least_name, name, strlen(name) + 1); /* a claim name: under 64 */
        const char *key = token - 3; /* "v1-TOKEN.claim" */
        if (!s->least_key[0] || strcmp(key, s->least_key) < 0)
            memcpy(s->least_key, key, strlen(key) + 1);
        if (mine && strncmp(token, mine, 32) == 0) {
            if (held)
                s->has_held = 1;
            else
                s->has_intent = 1;
        }
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
        if (bt_marker_is_sentinel(buf, (size_t)n))
            return BT_OK;
        bt_marker m;
        if (n == 0 || bt_marker_parse(buf, (size_t)n, &m))
            return BT_BUSY; /* a soft lock's marker: its holder has the lock */
        return bt_fail(err, "use", EEXIST,
                       "the file there holds other data, not a strict lock's sentinel, and is left alone");
    }
    return BT_BUSY;
}

/* ---- taking and giving back ----------------------------------------------------------- */

void bt_strict_init(bt_strict *l, mode_t mode, int make_parents) {
    memset(l, 0, sizeof *l);
    l->claims = -1;
    l->mode = mode;
    l->make_parents = make_parents;
}

static size_t claim_record(char *buf, size_t cap, const char *token) {
    const char *host = bt_soft_host();
    char hex[2 * BT_HOST_LEN + 1];
    size_t i = 0;
    for (; host[i] && 2 * i + 2 < sizeof hex; i++)
        snprintf(hex + 2 * i, 3, "%02x", (unsigned char)host[i]);
    hex[2 * i] = '\0';
    char start[BT_TOKEN_LEN];
    int dead;
    if (bt_proc_token(bt_pid(), start, &dead) == 0)
        start[0] = '\0';
    int n = snprintf(buf, cap, MAGIC "\n%s\n%ld\n%s\n%s\n", token, (long)bt_pid(), hex, start);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* The doorway in the claim folder k: BT_OK (our claims stay), BT_BUSY (none of ours left),
 * or BT_FAIL. */
static int doorway(bt_strict *l, int k, bt_err *err) {
    scan s;
    if (scan_claims(k, NULL, &s, err) != BT_OK)
        return BT_FAIL;
    if (s.n > 0)
        return BT_BUSY;
    char token[33], record[RECORD_MAX];
    snprintf(token, sizeof token, "%016llx%016llx", bt_soft_random(), bt_soft_random());
    snprintf(l->intent, sizeof l->intent, "intent-v1-%s.claim", token);
    snprintf(l->held, sizeof l->held, "held-v1-%s.claim", token);
    size_t len = claim_record(record, sizeof record, token);
    if (publish(k, l->intent, record, len, l->mode) != 0)
        return errno == EEXIST ? BT_BUSY : bt_fail(err, "publish a claim for", errno, NULL);
    int r = scan_claims(k, token, &s, err);
    if (r == BT_OK && (s.n == 0 || s.any_held || strcmp(s.least_name, l->intent) != 0))
        r = BT_BUSY;
    if (r == BT_OK && linkat(k, l->intent, k, l->held, 0) != 0)
        r = errno == EEXIST ? BT_BUSY : bt_fail(err, "publish a held claim for", errno, NULL);
    if (r == BT_OK && scan_claims(k, token, &s, err) != BT_OK)
        r = BT_FAIL;
    char key[64];
    snprintf(key, sizeof key, "v1-%s.claim", token);
    if (r == BT_OK && (!s.has_intent || !s.has_held || strcmp(s.least_key, key) != 0))
        r = BT_BUSY;
    if (r != BT_OK) {
        unlinkat(k, l->held, 0);
        unlinkat(k, l->intent, 0);
    }
    return r;
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

static int nibble(char c) {
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static int from_hex(const char *s, size_t n, char *out, size_t cap) {
    if (n % 2 || n / 2 >= cap || !is_hex(s, n))
        return -1;
    for (size_t i = 0; i < n / 2; i++) /* digits checked above; s is not NUL-terminated */
        out[i] = (char)(nibble(s[2 * i]) << 4 | nibble(s[2 * i + 1]));
    out[n / 2] = '\0';
    return 0;
}

/* Parse a claim record into c (valid = 1 when it is one). */
static void parse_record(const char *buf, size_t n, bt_claim *c) {
    const char *f[6];
    size_t len[6], count = 0;
    const char *p = buf, *end = buf + n;
    while (p < end && count < 6) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return;
        f[count] = p;
        len[count++] = (size_t)(nl - p);
        p = nl + 1;
    }
    if (count != 5 || p != end || len[0] != strlen(MAGIC) || memcmp(f[0], MAGIC, len[0]) != 0 ||
        len[1] != 32 || memcmp(f[1], c->token, 32) != 0 || len[2] == 0 || len[2] > 10 ||
        len[4] >= BT_TOKEN_LEN || from_hex(f[3], len[3], c->host, sizeof c->host) != 0)
        return;
    char pid[12];
    memcpy(pid, f[2], len[2]);
    pid[len[2]] = '\0';
    char *e;
    c->pid = strtol(pid, &e, 10);
    if (*e || c->pid < 1 || c->pid > 2147483647L)
        return;
    memcpy(c->start, f[4], len[4]);
    c->start[len[4]] = '\0';
    c->valid = 1;
}

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
        parse_record(buf, (size_t)n, c);
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
        int held = claim_state(e->d_name, &token);
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
        if (claim_state(e->d_name, NULL) >= 0 && unlinkat(dirfd(d), e->d_name, 0) == 0)
            removed++;
    closedir(d);
    return removed;
}
