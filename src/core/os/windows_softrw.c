/* Soft read/write locks on Windows (soft_rw.h): filelock's SoftReadWriteLock protocol over
 * wide paths, as soft_rw.c speaks it over descriptors. Beside the lock path PATH: PATH.state
 * (a soft lock, windows_soft.c, held during a transition only), PATH.write (the writer's
 * marker) and PATH.readers\NAME (one per reader), each "TOKEN\nPID\nHOST\n", made with
 * CREATE_NEW and kept young by a heartbeat (windows_lease.c). A marker older than the stale
 * threshold, or whose holder is gone from this host, is evicted by anyone: moved aside under
 * a random name (never replacing), checked to be the same claim not refreshed meanwhile, and
 * deleted. The readers' folder is listed with FindFirstFileW. */
#include "windows.h"

#include <errno.h>
#include <io.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../clock.h"
#include "../pid.h"
#include "../soft_rw.h"
#include "windows_records.h"

#define PATH_CAP 4096

static const char *const held_names[] = {"free", "read", "write"};

/* path + suffix (+ "\" + name when name) into out: 0, or -1 when it does not fit. */
static int side(char *out, const char *path, const char *suffix, const char *name) {
    int n = name ? snprintf(out, PATH_CAP, "%s%s\\%s", path, suffix, name)
                 : snprintf(out, PATH_CAP, "%s%s", path, suffix);
    return n >= 0 && n < PATH_CAP ? 0 : -1;
}

static wchar_t *wide(const char *path) {
    DWORD e;
    return bt_win_wide(path, &e);
}

/* Read the marker at `path`: 1 (with its time, token, pid and host; *valid when it parses,
 * *empty when it holds nothing), 0 none. */
static int read_marker(const char *path, double *mtime, char token[33], bt_softrw_marker *m,
                       int *valid, int *empty) {
    wchar_t *w = wide(path);
    HANDLE h = w ? CreateFileW(w, GENERIC_READ, BT_WIN_SHARE_ALL, NULL, OPEN_EXISTING,
                               FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT, NULL)
                 : INVALID_HANDLE_VALUE;
    free(w);
    if (h == INVALID_HANDLE_VALUE)
        return 0;
    BY_HANDLE_FILE_INFORMATION fi;
    char buf[BT_RW_MARKER_MAX + 1];
    DWORD n = 0;
    int ok = GetFileInformationByHandle(h, &fi) && ReadFile(h, buf, sizeof buf, &n, NULL);
    CloseHandle(h);
    if (!ok)
        return 0;
    int regular = !(fi.dwFileAttributes & (FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_REPARSE_POINT));
    bt_softrw_marker scratch;
    if (!m)
        m = &scratch;
    *mtime = bt_win_epoch(&fi.ftLastWriteTime);
    *valid = regular && bt_marker_parse_rw(buf, n, token, &m->pid, m->host, sizeof m->host);
    *empty = regular && n == 0;
    m->mtime = *mtime;
    return 1;
}

/* Evict the marker at `path` when older than the stale threshold or its holder is gone
 * from this host (soft_rw.c's evict_stale): -1 for a file that is no marker and is left
 * alone, else 0. */
static int evict_stale(bt_softrw *l, const char *path, int readers) {
    double before, after;
    char token[33], again[33];
    bt_softrw_marker m;
    int valid, valid_after, empty;
    if (!read_marker(path, &before, token, &m, &valid, &empty))
        return 0;
    int holder_gone = valid && strcmp(m.host, bt_soft_host()) == 0 && bt_win_gone(m.pid);
    if (bt_win_wall_now() - before <= l->stale && !holder_gone)
        return 0;
    wchar_t *w = wide(path);
    if (!valid) {
        if (!readers && !empty) {
            free(w);
            return -1; /* somebody's data, not a marker */
        }
        if (w)
            DeleteFileW(w);
        free(w);
        return 0;
    }
    char aside[PATH_CAP];
    int fits = snprintf(aside, sizeof aside, "%s.break.%ld.%016llx%016llx", path, (long)bt_pid(),
                        bt_soft_random(), bt_soft_random()) < (int)sizeof aside;
    wchar_t *wa = fits ? wide(aside) : NULL;
    if (w && wa && MoveFileExW(w, wa, 0) &&
        read_marker(aside, &after, again, NULL, &valid_after, &empty) &&
        (!valid_after || (strcmp(token, again) == 0 && !(after > before))))
        DeleteFileW(wa);
    free(w);
    free(wa);
    return 0;
}

/* Create our marker at `path` (CREATE_NEW): 0, or -1 with errno (EEXIST). */
static int create_marker(bt_softrw *l, const char *path, const char *name) {
    char text[400];
    int n = snprintf(text, sizeof text, "%016llx%016llx\n%ld\n%s\n", bt_soft_random(),
                     bt_soft_random(), (long)GetCurrentProcessId(), bt_soft_host());
    wchar_t *w = wide(path);
    HANDLE h = w ? CreateFileW(w, GENERIC_WRITE | FILE_READ_ATTRIBUTES, BT_WIN_SHARE_ALL, NULL,
                               CREATE_NEW, FILE_ATTRIBUTE_NORMAL, NULL)
                 : INVALID_HANDLE_VALUE;
    DWORD e = h == INVALID_HANDLE_VALUE ? GetLastError() : 0, put = 0;
    DWORD a = e == ERROR_ACCESS_DENIED && w ? GetFileAttributesW(w) : 0;
    if (e == ERROR_ACCESS_DENIED && w &&
        (a == INVALID_FILE_ATTRIBUTES ? GetLastError() == ERROR_ACCESS_DENIED : !(a & FILE_ATTRIBUTE_DIRECTORY)))
        e = ERROR_FILE_EXISTS; /* a marker pending deletion, its name not free yet: busy */
    if (!e && !WriteFile(h, text, (DWORD)n, &put, NULL))
        e = GetLastError();
    else if (!e && put != (DWORD)n)
        e = ERROR_HANDLE_DISK_FULL;
    int fd = e ? -1 : _open_osfhandle((intptr_t)h, _O_WRONLY);
    if (!e && fd < 0)
        e = ERROR_TOO_MANY_OPEN_FILES;
    if (e && h != INVALID_HANDLE_VALUE) {
        if (fd < 0)
            CloseHandle(h);
        else
            _close(fd);
        DeleteFileW(w); /* made by us a moment ago, and we live */
    }
    free(w);
    if (e) {
        errno = bt_win_errno(e);
        return -1;
    }
    l->fd = fd;
    snprintf(l->name, sizeof l->name, "%s", name);
    return 0;
}

/* 1 when `path` still names our marker. */
static int still_ours(const bt_softrw *l, const char *path) {
    bt_win_id mine, there;
    wchar_t *w = wide(path);
    HANDLE h = w ? CreateFileW(w, 0, BT_WIN_SHARE_ALL, NULL, OPEN_EXISTING,
                               FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT, NULL)
                 : INVALID_HANDLE_VALUE;
    free(w);
    if (h == INVALID_HANDLE_VALUE)
        return 0;
    int same = bt_win_id_of(h, &there) == 0 &&
               bt_win_id_of((HANDLE)_get_osfhandle(l->fd), &mine) == 0 && bt_win_same_id(&mine, &there);
    CloseHandle(h);
    return same;
}

static void delete_path(const char *path) {
    wchar_t *w = wide(path);
    if (w)
        DeleteFileW(w);
    free(w);
}

/* The path of our marker (the writer's, or a reader's) into out. */
static int marker_path(const bt_softrw *l, const char *path, char *out) {
    return l->rdir >= 0 ? side(out, path, ".readers", l->name) : side(out, path, ".write", NULL);
}

/* Remove our marker while the path still names it; the writer's under PATH.state. */
static void drop_marker(bt_softrw *l, const char *path) {
    char mpath[PATH_CAP], spath[PATH_CAP];
    if (l->fd < 0)
        return;
    if (marker_path(l, path, mpath) == 0 && still_ours(l, mpath)) {
        if (l->rdir >= 0) {
            delete_path(mpath);
        } else if (side(spath, path, ".state", NULL) == 0 && bt_softrw_take_state(l, spath) == 0) {
            if (still_ours(l, mpath))
                delete_path(mpath);
            _close(l->fd); /* before PATH.state goes: a deferred deletion completes here */
            l->fd = -1;
            bt_soft_release(&l->state, spath);
        }
    }
    if (l->fd >= 0)
        _close(l->fd);
    l->fd = -1;
}

/* Call fn(marker path, arg) for each reader's marker in PATH.readers (names that start with
 * '.' and markers moved aside skipped) until it returns nonzero: 0 when done, 1 when fn
 * stopped it, -1 when the folder cannot be listed (-2: it lists nothing). */
static int each_reader(const char *path, int (*fn)(const char *, void *), void *arg) {
    char pattern[PATH_CAP], one[PATH_CAP];
    if (side(pattern, path, ".readers", "*") != 0)
        return -1;
    wchar_t *w = wide(pattern);
    WIN32_FIND_DATAW fd;
    HANDLE f = w ? FindFirstFileW(w, &fd) : INVALID_HANDLE_VALUE;
    free(w);
    if (f == INVALID_HANDLE_VALUE)
        return GetLastError() == ERROR_FILE_NOT_FOUND ? -2 : -1;
    int r = 0;
    do {
        char name[300];
        if (fd.cFileName[0] == L'.' ||
            WideCharToMultiByte(CP_UTF8, 0, fd.cFileName, -1, name, sizeof name, NULL, NULL) <= 0 ||
            strstr(name, ".break") || side(one, path, ".readers", name) != 0)
            continue;
        r = fn(one, arg);
    } while (!r && FindNextFileW(f, &fd));
    FindClose(f);
    return r ? 1 : 0;
}

static int evict_and_look(const char *one, void *arg) {
    evict_stale(arg, one, 1);
    wchar_t *w = wide(one);
    int there = w && GetFileAttributesW(w) != INVALID_FILE_ATTRIBUTES;
    free(w);
    return there;
}

/* Whether any reader's marker is left in PATH.readers (stale ones evicted first). */
static int any_readers(bt_softrw *l, const char *path) {
    int r = each_reader(path, evict_and_look, l);
    return r == 1 || r == -1; /* found one, or cannot tell: wait */
}

/* PATH.readers, made when missing and checked to be a real folder: BT_OK or BT_FAIL. */
static int open_readers(const char *path, bt_err *err) {
    char readers[PATH_CAP];
    if (side(readers, path, ".readers", NULL) != 0)
        return bt_fail(err, "use", ENAMETOOLONG, NULL);
    wchar_t *w = wide(readers);
    if (!w)
        return bt_fail(err, "use", EINVAL, NULL);
    DWORD e = CreateDirectoryW(w, NULL) ? 0 : GetLastError(), a = GetFileAttributesW(w);
    free(w);
    if (e && e != ERROR_ALREADY_EXISTS)
        return bt_win_fail(err, "create the readers' folder of", e);
    if (a == INVALID_FILE_ATTRIBUTES || !(a & FILE_ATTRIBUTE_DIRECTORY) || (a & FILE_ATTRIBUTE_REPARSE_POINT))
        return bt_fail(err, "open the readers' folder of", ENOTDIR, "PATH.readers is not a real folder");
    return BT_OK;
}

/* The transition under PATH.state (soft_rw.c's): BT_OK, BT_BUSY or BT_FAIL. */
static int transition(bt_softrw *l, const char *path, int write, bt_err *err) {
    char wpath[PATH_CAP];
    if (side(wpath, path, ".write", NULL) != 0)
        return bt_fail(err, "use", ENAMETOOLONG, NULL);
    if (open_readers(path, err) != BT_OK)
        return BT_FAIL;
    int r = BT_BUSY;
    if (!write || !l->claimed) {
        wchar_t *ww = wide(wpath);
        if (evict_stale(l, wpath, 0) != 0) {
            r = bt_fail(err, "use", EEXIST, "the writer's marker beside it (its name and "
                        "'.write') holds other data, not a marker, and is left alone");
        } else if (ww && GetFileAttributesW(ww) != INVALID_FILE_ATTRIBUTES) {
            r = BT_BUSY; /* a writer holds or claims it */
        } else if (!write) {
            char rname[64], rpath[PATH_CAP];
            snprintf(rname, sizeof rname, "%016llx%016llx.%ld", bt_soft_random(),
                     bt_soft_random(), (long)GetCurrentProcessId());
            r = side(rpath, path, ".readers", rname) == 0 && create_marker(l, rpath, rname) == 0
                    ? BT_OK
                    : bt_fail(err, "create a reader's marker for", errno, NULL);
            if (r == BT_OK)
                l->rdir = 1; /* a reader's marker, in PATH.readers */
        } else if (create_marker(l, wpath, "write") == 0) {
            l->claimed = 1;
        } else if (errno != EEXIST) {
            r = bt_fail(err, "create the writer's marker of", errno, NULL);
        }
        free(ww);
    }
    if (write && l->claimed) {
        if (!still_ours(l, wpath)) { /* evicted while we waited: claim it again */
            _close(l->fd);
            l->fd = -1;
            l->claimed = 0;
            r = BT_BUSY;
        } else {
            FILETIME t;
            GetSystemTimeAsFileTime(&t);
            SetFileTime((HANDLE)_get_osfhandle(l->fd), NULL, NULL, &t);
            r = any_readers(l, path) ? BT_BUSY : BT_OK;
        }
    }
    return r;
}

static void give_back(bt_softrw *l, const char *path) {
    bt_beat_stop(l->beat);
    l->beat = NULL;
    drop_marker(l, path);
    l->rdir = l->dir = -1;
    l->held = l->claimed = 0;
}

static int softrw_try(void *state, const char *path, int how, bt_err *err, const char **named) {
    (void)named;
    bt_softrw *l = state;
    if (l->held)
        return l->held == (how ? 2 : 1) ? BT_OK : BT_BUSY;
    char spath[PATH_CAP], mpath[PATH_CAP];
    if (side(spath, path, ".state", NULL) != 0)
        return bt_fail(err, "use", ENAMETOOLONG, NULL);
    if (l->make_parents) {
        wchar_t *w = wide(spath);
        DWORD e = w ? bt_win_make_parents(w) : 0;
        free(w);
        if (e)
            return bt_win_fail(err, "create", e);
    }
    int r = bt_soft_try(&l->state, spath, err);
    if (r == BT_OK) {
        r = transition(l, path, how, err);
        bt_soft_release(&l->state, spath);
    }
    if (r == BT_OK) {
        l->held = how ? 2 : 1;
        if (marker_path(l, path, mpath) == 0)
            l->beat = bt_beat_start(-1, mpath, mpath, l->fd, 0, 0, l->stale, l->every);
        if (!l->beat) { /* unrefreshed, the marker would soon be evicted under us */
            int saved = errno;
            give_back(l, path);
            return bt_fail(err, "start the heartbeat of", saved, NULL);
        }
    }
    return r;
}

int bt_softrw_lost(const bt_softrw *l, char *why, size_t cap, const char **reason) {
    return l->held && bt_beat_lost(l->beat, why, cap, reason);
}

int bt_softrw_lostfd(const bt_softrw *l) { return l->held ? bt_beat_fd(l->beat) : -1; }

static int softrw_held(const void *state) {
    const bt_softrw *l = state;
    char why[512];
    return bt_beat_lost(l->beat, why, sizeof why, NULL) ? 0 : l->held;
}

void bt_softrw_abandon(bt_softrw *l, const char *path) {
    if (l->claimed && !l->held)
        give_back(l, path);
}

static void softrw_release(void *state, const char *path) { give_back(state, path); }

static void softrw_end(void *state, const char *path) {
    bt_softrw *l = state;
    give_back(l, path);
    char spath[PATH_CAP];
    if (side(spath, path, ".state", NULL) == 0)
        bt_soft_release(&l->state, spath);
}

const bt_kind bt_softrw_kind = {"baton.soft_rw", "soft read/write lock", sizeof(bt_softrw),
                                held_names, softrw_try, bt_kind_pause, NULL, softrw_held,
                                NULL, softrw_release, softrw_end};

/* The marker at `path`, described into m: 1, or 0 when it is none. */
static int describe(const char *path, bt_softrw_marker *m) {
    double mtime;
    char token[33];
    int valid, empty;
    return read_marker(path, &mtime, token, m, &valid, &empty) && valid;
}

typedef struct marker_list {
    bt_softrw_marker *out;
    int n, max;
} marker_list;

static int add_reader(const char *one, void *arg) {
    marker_list *m = arg;
    if (describe(one, &m->out[m->n])) {
        m->out[m->n].write = 0;
        m->n++;
    }
    return m->n >= m->max;
}

int bt_softrw_markers(const char *path, bt_softrw_marker *out, int max) {
    char one[PATH_CAP];
    marker_list m = {out, 0, max};
    if (max > 0 && side(one, path, ".write", NULL) == 0 && describe(one, &out[0])) {
        out[0].write = 1;
        m.n = 1;
    }
    if (m.n < max)
        each_reader(path, add_reader, &m);
    return m.n;
}
