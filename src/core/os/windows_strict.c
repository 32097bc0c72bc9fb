/* Strict soft locks on Windows (soft_strict.h): filelock's StrictSoftFileLock doorway
 * (strict_claim.c) over wide paths. The claim folder is PATH.filelock\claims, made with
 * CreateDirectoryW and used only when it is a real folder (no reparse point); a record is
 * written in full under a private name (CREATE_NEW) and given its public name with
 * CreateHardLinkW, which never replaces a file, so a claim is whole from its first moment;
 * the claims are listed with FindFirstFileW. The sentinel at the path is made the same way
 * and never removed. Nothing else is created, written or deleted. */
#include "windows.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../pid.h"
#include "../soft_lock.h"
#include "../strict_claim.h"
#include "windows_records.h"

/* The claim folder of a lock path, as a wide path: PATH.filelock\claims. */
static wchar_t *claims_path(const char *path, bt_err *err) {
    char buf[4096];
    DWORD e;
    if (snprintf(buf, sizeof buf, "%s" BT_CLAIM_SUFFIX "\\" BT_CLAIM_FOLDER, path) >= (int)sizeof buf) {
        bt_fail(err, "use", ENAMETOOLONG, NULL);
        return NULL;
    }
    wchar_t *w = bt_win_wide(buf, &e);
    if (!w)
        bt_win_fail(err, "use", e);
    return w;
}

/* k\name as a wide path (free() it), or NULL. */
static wchar_t *in_folder(const wchar_t *k, const char *name) {
    DWORD e;
    wchar_t *n = bt_win_wide(name, &e);
    if (!n)
        return NULL;
    size_t a = wcslen(k), b = wcslen(n);
    wchar_t *w = malloc((a + b + 2) * sizeof *w);
    if (w) {
        memcpy(w, k, a * sizeof *w);
        w[a] = L'\\';
        memcpy(w + a + 1, n, (b + 1) * sizeof *w);
    }
    free(n);
    return w;
}

/* Make the folder w (its parent exists) and check that it is a real folder: BT_OK or BT_FAIL. */
static int real_folder(wchar_t *w, int create, bt_err *err) {
    if (create && !CreateDirectoryW(w, NULL) && GetLastError() != ERROR_ALREADY_EXISTS)
        return bt_win_fail(err, "create the claim folder of", GetLastError());
    DWORD a = GetFileAttributesW(w);
    if (a == INVALID_FILE_ATTRIBUTES)
        return bt_win_fail(err, "open the claim folder of", GetLastError());
    if (!(a & FILE_ATTRIBUTE_DIRECTORY) || (a & FILE_ATTRIBUTE_REPARSE_POINT))
        return bt_fail(err, "use", EPROTO, "its claim folder (PATH.filelock/claims) is not a real folder");
    return BT_OK;
}

/* The claim folder, made when asked (and checked): BT_OK or BT_FAIL. */
static int open_claims(wchar_t *k, int create, bt_err *err) {
    wchar_t *cut = wcsrchr(k, L'\\');
    *cut = L'\0';
    int r = real_folder(k, create, err);
    *cut = L'\\';
    return r == BT_OK ? real_folder(k, create, err) : r;
}

/* ---- the operations of the doorway ----------------------------------------------------- */

static int fail_errno(DWORD e) {
    errno = bt_win_errno(e);
    return -1;
}

/* Write record into a new file at w: 0, or the error. */
static DWORD write_new(const wchar_t *w, const char *record, size_t len) {
    HANDLE h = CreateFileW(w, GENERIC_WRITE, BT_WIN_SHARE_ALL, NULL, CREATE_NEW,
                           FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE)
        return GetLastError();
    DWORD put = 0, e = WriteFile(h, record, (DWORD)len, &put, NULL) ? 0 : GetLastError();
    if (!e && put != len)
        e = ERROR_HANDLE_DISK_FULL;
    CloseHandle(h);
    return e;
}

/* Publish record as `name` in the folder k: 0, or -1 with errno (EEXIST: it is there). */
static int publish_in(const wchar_t *k, const char *name, const char *record, size_t len) {
    char tmp[600];
    bt_claim_private_name(tmp, sizeof tmp, name);
    wchar_t *priv = in_folder(k, tmp), *pub = in_folder(k, name);
    DWORD e = priv && pub ? write_new(priv, record, len) : ERROR_NOT_ENOUGH_MEMORY;
    if (!e) {
        e = CreateHardLinkW(pub, priv, NULL) ? 0 : GetLastError();
        DeleteFileW(priv);
    }
    free(priv);
    free(pub);
    return e ? fail_errno(e) : 0;
}

static int publish_op(void *k, const char *name, const char *record, size_t len, mode_t mode) {
    (void)mode; /* Windows files have no permission bits to give */
    return publish_in(k, name, record, len);
}

static int link_op(void *k, const char *from, const char *to) {
    wchar_t *f = in_folder(k, from), *t = in_folder(k, to);
    DWORD e = f && t ? (CreateHardLinkW(t, f, NULL) ? 0 : GetLastError()) : ERROR_NOT_ENOUGH_MEMORY;
    free(f);
    free(t);
    return e ? fail_errno(e) : 0;
}

static void unlink_op(void *k, const char *name) {
    wchar_t *w = in_folder(k, name);
    if (w)
        DeleteFileW(w);
    free(w);
}

/* Call fn(k, UTF-8 name, its find data, arg) for each entry of the folder k but . and ..; it
 * returns 0 to go on. Returns fn's last result, or -1 with *e set when k cannot be listed. */
static int each_entry(const wchar_t *k, int (*fn)(const wchar_t *, const char *,
                                                  const WIN32_FIND_DATAW *, void *),
                      void *arg, DWORD *e) {
    size_t n = wcslen(k);
    wchar_t *pattern = malloc((n + 3) * sizeof *pattern);
    if (!pattern) {
        *e = ERROR_NOT_ENOUGH_MEMORY;
        return -1;
    }
    memcpy(pattern, k, n * sizeof *pattern);
    memcpy(pattern + n, L"\\*", 3 * sizeof *pattern);
    WIN32_FIND_DATAW fd;
    HANDLE f = FindFirstFileW(pattern, &fd);
    free(pattern);
    if (f == INVALID_HANDLE_VALUE) {
        *e = GetLastError();
        return -1;
    }
    int r = 0;
    do {
        char name[600];
        if (wcscmp(fd.cFileName, L".") == 0 || wcscmp(fd.cFileName, L"..") == 0)
            continue;
        if (WideCharToMultiByte(CP_UTF8, 0, fd.cFileName, -1, name, sizeof name, NULL, NULL) <= 0)
            strcpy(name, "?"); /* no claim's name */
        r = fn(k, name, &fd, arg);
    } while (r == 0 && FindNextFileW(f, &fd));
    FindClose(f);
    return r;
}

typedef struct scan_arg {
    bt_claim_scan *s;
    const char *mine;
} scan_arg;

static int scan_one(const wchar_t *k, const char *name, const WIN32_FIND_DATAW *fd, void *arg) {
    scan_arg *a = arg;
    if (name[0] == '.') {
        /* a crashed publisher's private record, once old enough */
        if (bt_claim_is_private(name) && bt_win_wall_now() - bt_win_epoch(&fd->ftLastWriteTime) >= BT_CLAIM_PRIVATE_GRACE)
            unlink_op((void *)k, name);
        return 0;
    }
    const char *token;
    int held = bt_claim_state(name, &token);
    if (held < 0)
        return 1;
    bt_claim_count(a->s, name, held, token, a->mine);
    return 0;
}

static int scan_op(void *k, const char *mine, bt_claim_scan *s, bt_err *err) {
    memset(s, 0, sizeof *s);
    scan_arg a = {s, mine};
    DWORD e = 0;
    int r = each_entry(k, scan_one, &a, &e);
    if (r < 0)
        return bt_win_fail(err, "list the claims of", e);
    if (r > 0)
        return bt_fail(err, "use", EPROTO,
                       "its claim folder holds a name that is no claim of filelock-strict-v1");
    return BT_OK;
}

static const bt_claim_ops claim_ops = {scan_op, publish_op, link_op, unlink_op};

/* ---- the sentinel ---------------------------------------------------------------------- */

/* The folder of a wide path and its last name, split at the last separator (in place: w's
 * separator becomes a NUL); *name NULL when the path has no folder part. */
static wchar_t *split(wchar_t *w, wchar_t **name) {
    wchar_t *cut = NULL;
    for (wchar_t *p = w; *p; p++)
        if (*p == L'\\' || *p == L'/')
            cut = p;
    if (!cut) {
        *name = NULL;
        return w;
    }
    *cut = L'\0';
    *name = cut + 1;
    return cut;
}

/* BT_OK when the sentinel is at the path (made now if missing), BT_BUSY when a soft lock's
 * marker is there instead, else BT_FAIL. */
static int sentinel(const char *path, const wchar_t *w, bt_err *err) {
    for (int round = 0; round < 4; round++) {
        HANDLE h = CreateFileW(w, GENERIC_READ, BT_WIN_SHARE_ALL, NULL, OPEN_EXISTING,
                               FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT, NULL);
        if (h == INVALID_HANDLE_VALUE && GetLastError() == ERROR_FILE_NOT_FOUND) {
            wchar_t *copy = _wcsdup(w), *name;
            const char *last = strrchr(path, '/'), *back = strrchr(path, '\\');
            if (back && (!last || back > last))
                last = back;
            split(copy, &name);
            int r = copy ? publish_in(name ? copy : L".", last ? last + 1 : path,
                                      BT_STRICT_SENTINEL, BT_STRICT_SENTINEL_LEN)
                         : fail_errno(ERROR_NOT_ENOUGH_MEMORY);
            free(copy);
            if (r != 0 && errno != EEXIST)
                return bt_fail(err, "create the sentinel of", errno, NULL);
            continue;
        }
        if (h == INVALID_HANDLE_VALUE)
            return bt_win_fail(err, "open", GetLastError());
        char buf[BT_MARKER_MAX + 1];
        DWORD n = 0;
        BY_HANDLE_FILE_INFORMATION fi;
        int regular = GetFileInformationByHandle(h, &fi) &&
                      !(fi.dwFileAttributes & (FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_REPARSE_POINT));
        DWORD e = regular && !ReadFile(h, buf, sizeof buf, &n, NULL) ? GetLastError() : 0;
        CloseHandle(h);
        if (!regular)
            return bt_fail(err, "use", EINVAL, "not a regular file");
        if (e)
            return bt_win_fail(err, "read", e);
        return bt_claim_sentinel(buf, n, err);
    }
    return BT_BUSY;
}

/* ---- taking and giving back ------------------------------------------------------------- */

static int strict_try(void *state, const char *path, int how, bt_err *err, const char **named) {
    (void)how;
    (void)named;
    bt_strict *l = state;
    if (l->claims >= 0)
        return BT_OK;
    DWORD e;
    wchar_t *w = bt_win_wide(path, &e);
    if (!w)
        return bt_win_fail(err, "create", e);
    wchar_t *k = claims_path(path, err);
    int r = k ? BT_OK : BT_FAIL;
    if (r == BT_OK && l->make_parents && (e = bt_win_make_parents(k)) != 0)
        r = bt_win_fail(err, "create", e);
    if (r == BT_OK)
        r = open_claims(k, 1, err);
    if (r == BT_OK)
        r = sentinel(path, w, err);
    if (r == BT_OK) {
        char start[BT_TOKEN_LEN];
        bt_win_process_token((long)GetCurrentProcessId(), start, NULL);
        r = bt_claim_doorway(&claim_ops, k, l, (long)GetCurrentProcessId(), bt_soft_host(), start, err);
    }
    if (r == BT_OK) {
        l->claims = 1; /* held: the release finds the folder by the path */
        l->owner = bt_pid();
    }
    free(k);
    free(w);
    return r;
}

static int strict_held(const void *state) { return ((const bt_strict *)state)->claims >= 0; }

static void strict_release(void *state, const char *path) {
    bt_strict *l = state;
    if (l->claims < 0)
        return;
    bt_err err;
    wchar_t *k = claims_path(path, &err);
    if (k) {
        unlink_op(k, l->held);
        unlink_op(k, l->intent);
    }
    free(k);
    l->claims = -1;
}

/* Claims change in a folder nobody is told about: the generic schedule's pauses do. */
const bt_kind bt_strict_kind = {"baton.soft_strict", "strict soft lock", sizeof(bt_strict),
                                NULL, strict_try, bt_kind_pause, NULL, strict_held,
                                NULL, strict_release, strict_release};

/* ---- looking and breaking --------------------------------------------------------------- */

typedef struct list_arg {
    bt_claim *out;
    int n, max;
} list_arg;

static int list_one(const wchar_t *k, const char *name, const WIN32_FIND_DATAW *fd, void *arg) {
    list_arg *a = arg;
    const char *token;
    int held = bt_claim_state(name, &token);
    if (held < 0 || a->n >= a->max)
        return 0;
    bt_claim *c = &a->out[a->n];
    memset(c, 0, sizeof *c);
    memcpy(c->name, name, strlen(name) + 1); /* a claim name: under 64 */
    memcpy(c->token, token, 32);
    c->held = held;
    c->mtime = bt_win_epoch(&fd->ftLastWriteTime);
    wchar_t *w = in_folder(k, name);
    HANDLE h = w ? CreateFileW(w, GENERIC_READ, BT_WIN_SHARE_ALL, NULL, OPEN_EXISTING,
                               FILE_ATTRIBUTE_NORMAL, NULL)
                 : INVALID_HANDLE_VALUE;
    free(w);
    if (h == INVALID_HANDLE_VALUE)
        return 0; /* gone since it was listed */
    char buf[BT_CLAIM_RECORD_MAX + 1];
    DWORD n = 0;
    if (ReadFile(h, buf, sizeof buf, &n, NULL) && n > 0 && n <= BT_CLAIM_RECORD_MAX)
        bt_claim_parse(buf, n, c);
    CloseHandle(h);
    a->n++;
    return 0;
}

int bt_strict_claims(const char *path, bt_claim *out, int max) {
    bt_err err;
    wchar_t *k = claims_path(path, &err);
    if (!k) {
        errno = err.code;
        return -1;
    }
    list_arg a = {out, 0, max};
    DWORD e = 0;
    int r = each_entry(k, list_one, &a, &e);
    free(k);
    if (r < 0 && e == ERROR_FILE_NOT_FOUND)
        return 0; /* nothing in the folder, not even . and .. */
    if (r < 0)
        errno = bt_win_errno(e); /* ENOENT: no claim folder */
    return r < 0 ? -1 : a.n;
}

static int break_one(const wchar_t *k, const char *name, const WIN32_FIND_DATAW *fd, void *arg) {
    (void)fd;
    wchar_t *w = bt_claim_state(name, NULL) >= 0 ? in_folder(k, name) : NULL;
    if (w && DeleteFileW(w))
        (*(int *)arg)++;
    free(w);
    return 0;
}

int bt_strict_break(const char *path, bt_err *err) {
    wchar_t *k = claims_path(path, err);
    if (!k)
        return -1;
    bt_claim_scan s;
    int removed = 0;
    DWORD e = 0;
    if (scan_op(k, NULL, &s, err) != BT_OK || each_entry(k, break_one, &removed, &e) < 0) {
        if (e)
            bt_win_fail(err, "break", e);
        free(k);
        return -1;
    }
    free(k);
    return removed;
}
