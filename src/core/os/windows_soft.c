/* Soft locks on Windows (soft_lock.h, plain ones: no leases, no strict claims yet): the lock
 * is a marker made with CREATE_NEW holding its owner in Python filelock's format,
 * "pid\nhost\nstart-token\n", where the start token is the process's creation time in 100 ns
 * ticks, as filelock's process_start_token tells it on Windows. A marker on this host whose
 * process is gone (OpenProcess finds none, or it has exited), or whose pid now names a
 * process created at another time, is broken and taken over; a live owner's never is, nor a
 * file that names no owner and is not empty.
 *
 * Breaking is race-free: the marker is opened, read and marked for deletion through one
 * handle, so what goes is the file that was judged, never one a peer made at the path
 * meanwhile. A release deletes the marker only when the path still names the file this
 * lock made. Every handle shares reading, writing and deletion, and none is inherited. */
/* Windows 10's declarations (FileDispositionInfoEx), used where the system has them. */
#define _WIN32_WINNT 0x0A000002 /* _WIN32_WINNT_WIN10_RS1 */
#include "windows.h"

#include <errno.h>
#include <io.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../clock.h"
#include "../pid.h"
#include "../soft_lock.h"
#include "../soft_marker.h"

/* How often one attempt may find the marker gone, or break a stale one, before it says busy. */
#define MAX_ROUNDS 8

void bt_soft_init(bt_soft *l, mode_t mode, int make_parents, double stale_after) {
    memset(l, 0, sizeof *l);
    l->fd = -1;
    l->dir = -1;
    l->record = -1;
    l->spare = -1;
    bt_watch_init(&l->watch, &l->wd, 1);
    l->mode = mode;
    l->make_parents = make_parents;
    l->stale_after = stale_after;
}

const char *bt_soft_host(void) {
    static char host[BT_HOST_LEN];
    if (!host[0]) {
        DWORD n = sizeof host;
        if (!GetComputerNameExA(ComputerNamePhysicalDnsHostname, host, &n))
            strcpy(host, "localhost");
    }
    return host;
}

/* The start token of process p (its creation time in 100 ns ticks) into out, or "". */
static void token_of(HANDLE p, char out[BT_TOKEN_LEN]) {
    FILETIME created, ended, kernel, user;
    out[0] = '\0';
    if (GetProcessTimes(p, &created, &ended, &kernel, &user))
        snprintf(out, BT_TOKEN_LEN, "%llu",
                 ((unsigned long long)created.dwHighDateTime << 32) | created.dwLowDateTime);
}

/* 0 when the process the marker names is provably gone, else 1. */
static int owner_alive(const bt_marker *m) {
    HANDLE p = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD)m->pid);
    if (!p)
        return GetLastError() != ERROR_INVALID_PARAMETER; /* denied: it is there */
    DWORD code;
    int alive = !GetExitCodeProcess(p, &code) || code == STILL_ACTIVE;
    if (alive && m->token[0]) {
        char now[BT_TOKEN_LEN];
        token_of(p, now);
        alive = !now[0] || strcmp(now, m->token) == 0; /* another start time: a recycled pid */
    }
    CloseHandle(p);
    return alive;
}

/* Seconds since the file open as h was last written, or 0 when it cannot be told. */
static double age_of(HANDLE h) {
    FILETIME written, now;
    if (!GetFileTime(h, NULL, NULL, &written))
        return 0;
    GetSystemTimeAsFileTime(&now);
    ULARGE_INTEGER a = {.u = {written.dwLowDateTime, written.dwHighDateTime}};
    ULARGE_INTEGER b = {.u = {now.dwLowDateTime, now.dwHighDateTime}};
    return b.QuadPart > a.QuadPart ? (double)(b.QuadPart - a.QuadPart) / 1e7 : 0;
}

/* 1 when the marker open as h may be broken now. */
static int stale(const bt_soft *l, HANDLE h) {
    char buf[BT_MARKER_MAX + 1];
    DWORD got = 0;
    if (!ReadFile(h, buf, sizeof buf, &got, NULL) || got > BT_MARKER_MAX)
        return 0;
    bt_marker m;
    if (!bt_marker_parse(buf, got, &m))
        return got == 0 && age_of(h) > BT_SOFT_MALFORMED_AGE; /* a writer killed at once */
    if (m.mode != BT_MARKER_PLAIN)
        return 0; /* a lease's or another protocol's marker: not judged here yet */
    if (strlen(m.host) != m.host_len || strcmp(m.host, bt_soft_host()) != 0)
        return l->stale_after >= 0 && age_of(h) > l->stale_after;
    return !owner_alive(&m);
}

/* Delete the file open as h: its name goes at once where the system can (POSIX semantics,
 * Windows 10 1607 on), else once its last handle closes. */
static int delete_on_close(HANDLE h) {
    FILE_DISPOSITION_INFO_EX now = {FILE_DISPOSITION_FLAG_DELETE | FILE_DISPOSITION_FLAG_POSIX_SEMANTICS};
    if (SetFileInformationByHandle(h, FileDispositionInfoEx, &now, sizeof now))
        return 0;
    FILE_DISPOSITION_INFO later = {TRUE};
    return SetFileInformationByHandle(h, FileDispositionInfo, &later, sizeof later) ? 0 : -1;
}

/* Look at the marker in the way: BT_OK when it was stale and is gone now, or was gone
 * already; BT_BUSY when it stands. */
static int judge(const bt_soft *l, const wchar_t *w) {
    HANDLE h = CreateFileW(w, GENERIC_READ | DELETE, BT_WIN_SHARE_ALL, NULL, OPEN_EXISTING,
                           FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE) {
        DWORD e = GetLastError();
        return e == ERROR_FILE_NOT_FOUND ? BT_OK : BT_BUSY; /* denied: pending deletion too */
    }
    int rc = stale(l, h) && delete_on_close(h) == 0 ? BT_OK : BT_BUSY;
    CloseHandle(h);
    return rc;
}

/* Write our marker into the new file open as h: 0, or the error. */
static DWORD write_marker(HANDLE h) {
    char token[BT_TOKEN_LEN], buf[BT_HOST_LEN + 2 * BT_TOKEN_LEN];
    token_of(GetCurrentProcess(), token);
    size_t n = bt_marker_format(buf, sizeof buf, (long)GetCurrentProcessId(), bt_soft_host(), token);
    DWORD put = 0;
    if (n == 0)
        return ERROR_BUFFER_OVERFLOW;
    if (!WriteFile(h, buf, (DWORD)n, &put, NULL))
        return GetLastError();
    return put == n ? 0 : ERROR_HANDLE_DISK_FULL;
}

static HANDLE create_marker(const wchar_t *w, DWORD *e) {
    HANDLE h = CreateFileW(w, GENERIC_WRITE, BT_WIN_SHARE_ALL, NULL, CREATE_NEW,
                           FILE_ATTRIBUTE_NORMAL, NULL);
    *e = h == INVALID_HANDLE_VALUE ? GetLastError() : 0;
    return h;
}

int bt_soft_try(bt_soft *l, const char *path, bt_err *err) {
    if (l->fd >= 0)
        return BT_OK;
    if (l->lease > 0)
        return bt_fail(err, "lock", ENOSYS, "soft leases are not available on Windows yet");
    DWORD e;
    wchar_t *w = bt_win_wide(path, &e);
    if (!w)
        return bt_win_fail(err, "open", e);
    int rc = BT_BUSY;
    for (int round = 0; round < MAX_ROUNDS && rc == BT_BUSY; round++) {
        HANDLE h = create_marker(w, &e);
        if (h == INVALID_HANDLE_VALUE && e == ERROR_PATH_NOT_FOUND && l->make_parents &&
            !bt_win_make_parents(w))
            h = create_marker(w, &e);
        if (h != INVALID_HANDLE_VALUE) {
            DWORD we = write_marker(h);
            int fd = we ? -1 : _open_osfhandle((intptr_t)h, _O_WRONLY);
            if (fd < 0) {
                delete_on_close(h);
                CloseHandle(h);
                rc = we ? bt_win_fail(err, "write", we) : bt_fail(err, "open", EMFILE, NULL);
                break;
            }
            l->fd = fd;
            l->owner = bt_pid();
            rc = BT_OK;
        } else if (e == ERROR_FILE_EXISTS || e == ERROR_ALREADY_EXISTS) {
            if (judge(l, w) == BT_BUSY)
                break; /* a live holder's */
        } else if (e == ERROR_ACCESS_DENIED) {
            break; /* pending deletion, or a folder we may not write: busy (as filelock) */
        } else {
            rc = bt_win_fail(err, "create", e);
        }
    }
    free(w);
    return rc;
}

/* The folder holding `path` into dir (cap bytes), and where the entry's name starts in
 * path: "." for a bare name, "C:" for "C:x", a root ("\\", "C:\\") kept whole, else everything
 * before the last separator. -1 when it does not fit. */
static int folder_of(const char *path, char *dir, size_t cap, const char **entry) {
    const char *sep = NULL; /* the last separator */
    for (const char *p = path; *p; p++)
        if (*p == '/' || *p == '\\')
            sep = p;
    const char *name = sep ? sep + 1 : path[0] && path[1] == ':' ? path + 2 : path;
    size_t len = (size_t)(name - path);
    if (sep && len > 1 && !(len == 3 && path[1] == ':'))
        len--; /* the separator after a folder's name */
    if (len + 2 > cap)
        return -1;
    if (len == 0)
        dir[len++] = '.';
    else
        memcpy(dir, path, len);
    dir[len] = '\0';
    *entry = name;
    return 0;
}

/* A wait on a change notification for the marker's folder (windows_watch.c): woken when a
 * name there changes, as the marker's leaving does; the first call arms it. Sleeps where
 * none can be had. */
int bt_soft_wait(bt_soft *l, const char *path, double seconds) {
    char dir[4096];
    const char *entry;
    if (folder_of(path, dir, sizeof dir, &entry) != 0) {
        bt_sleep(seconds);
        return 0;
    }
    const char *dirs[1] = {dir};
    int woke = bt_watch_wait(&l->watch, dirs, 1, entry, seconds);
    return woke == BT_WOKE_EVENT || woke == BT_WOKE_REPLACED;
}

/* A change notification is a handle, not a descriptor: an event loop's `poll` gets none. */
int bt_soft_pollfd(const bt_soft *l) { return bt_watch_fd(&l->watch); }

int bt_soft_held(const bt_soft *l) { return l->fd >= 0; }

/* Holder records are not kept on Windows yet. */
void bt_soft_record(bt_soft *l, const char *note, size_t note_len) {
    (void)l;
    (void)note;
    (void)note_len;
}

/* Delete the marker if the path still names ours, then let ours go. */
void bt_soft_release(bt_soft *l, const char *path) {
    bt_watch_stop(&l->watch);
    if (l->fd < 0)
        return;
    DWORD e;
    wchar_t *w = bt_win_wide(path, &e);
    bt_win_id mine, there;
    if (w && bt_win_id_of((HANDLE)_get_osfhandle(l->fd), &mine) == 0) {
        HANDLE h = CreateFileW(w, DELETE, BT_WIN_SHARE_ALL, NULL, OPEN_EXISTING,
                               FILE_ATTRIBUTE_NORMAL, NULL);
        if (h != INVALID_HANDLE_VALUE) {
            if (bt_win_id_of(h, &there) == 0 && bt_win_same_id(&mine, &there))
                delete_on_close(h);
            CloseHandle(h);
        }
    }
    free(w);
    _close(l->fd);
    l->fd = -1;
}
