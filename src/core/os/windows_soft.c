/* Soft locks on Windows (soft_lock.h): the lock is a marker made with CREATE_NEW holding its
 * owner in Python filelock's format, "pid\nhost\nstart-token\n", where the start token is the
 * process's creation time in 100 ns ticks, as filelock's process_start_token tells it on
 * Windows. A marker on this host whose process is gone (OpenProcess finds none, or it has
 * exited), or whose pid now names a process created at another time, is broken and taken
 * over; a live owner's never is, nor a file that names no owner and is not empty. A lease
 * (filelock's SoftFileLease) writes filelock's protocol 2 marker, is kept young by a heartbeat
 * thread (windows_lease.c), and is taken once its marker is `lease` seconds old.
 *
 * Breaking is race-free: the marker is opened, read, judged, renamed aside to a random name
 * and marked for deletion through one handle, so what goes is the file that was judged,
 * never one a peer made at the path meanwhile, and its name is free at once even while its
 * holder (a live lease holder, or one an operator breaks) keeps it open. A release deletes
 * the marker only when the path still names the file this lock made. Every handle shares
 * reading, writing and deletion, and none is inherited. */
/* Windows 10's declarations (FileDispositionInfoEx), used where the system has them. */
#define _WIN32_WINNT 0x0A000002 /* _WIN32_WINNT_WIN10_RS1 */
#define _CRT_RAND_S /* rand_s */
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
#include "windows_records.h"

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

/* What a marker at the path is: a holder's to wait for, a stale one to break, a lease of
 * another length (no contract this lock agreed to) or a strict lock's sentinel: refused. */
enum { HELD = 0, STALE = 1, MISMATCH = 2, SENTINEL = 3 };

/* The detail of the last lease met with another duration on this thread. */
static int same_host(const bt_marker *m) {
    return strlen(m->host) == m->host_len && strcmp(m->host, bt_soft_host()) == 0;
}

/* A lease marker met by a lease: taken once its holder is gone or it is `lease` old. */
static int judge_lease(bt_soft *l, const bt_marker *m, double age) {
    if (bt_marker_lease_mismatch(l->why, sizeof l->why, m->duration, l->lease))
        return MISMATCH;
    if (same_host(m) && !owner_alive(m))
        return STALE;
    return age >= l->lease ? STALE : HELD;
}

/* The verdict on the marker open as h (read from its start). */
static int verdict(bt_soft *l, HANDLE h) {
    char buf[BT_MARKER_MAX + 1];
    DWORD got = 0;
    if (!ReadFile(h, buf, sizeof buf, &got, NULL) || got > BT_MARKER_MAX)
        return HELD;
    bt_marker m;
    if (bt_marker_is_sentinel(buf, got))
        return SENTINEL; /* a strict lock's sentinel: its claims are the lock, never broken */
    if (!bt_marker_parse(buf, got, &m))
        return got == 0 && age_of(h) > BT_SOFT_MALFORMED_AGE ? STALE : HELD; /* killed at once */
    if (l->force)
        return STALE;
    if (l->lease > 0 && m.mode == BT_MARKER_LEASE)
        return judge_lease(l, &m, age_of(h));
    if (!same_host(&m))
        return l->stale_after >= 0 && age_of(h) > l->stale_after ? STALE : HELD;
    return owner_alive(&m) ? HELD : STALE;
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

unsigned long long bt_soft_random(void) {
    unsigned a, b;
    if (rand_s(&a) == 0 && rand_s(&b) == 0)
        return ((unsigned long long)a << 32) | b;
    LARGE_INTEGER t;
    QueryPerformanceCounter(&t);
    return ((unsigned long long)t.QuadPart ^ ((unsigned long long)GetCurrentProcessId() << 40)) *
           0x9E3779B97F4A7C15ULL;
}

/* Move the file open as h (DELETE access) out of the way, to a random name in its folder
 * (the path w's), never replacing anything: its name is free at once, whoever keeps it open.
 * 0, or the error. */
static DWORD move_aside(HANDLE h, const wchar_t *w) {
    size_t len = wcslen(w), cut = len;
    while (cut > 0 && w[cut - 1] != L'\\' && w[cut - 1] != L'/' && w[cut - 1] != L':')
        cut--;
    size_t room = sizeof(FILE_RENAME_INFO) + (cut + 32) * sizeof(wchar_t);
    FILE_RENAME_INFO *to = calloc(1, room);
    if (!to)
        return ERROR_NOT_ENOUGH_MEMORY;
    DWORD e = ERROR_ALREADY_EXISTS;
    for (int i = 0; i < 8 && e == ERROR_ALREADY_EXISTS; i++) {
        memcpy(to->FileName, w, cut * sizeof(wchar_t));
        swprintf(to->FileName + cut, 32, L".baton-break.%016llx", bt_soft_random());
        to->ReplaceIfExists = FALSE;
        to->RootDirectory = NULL;
        to->FileNameLength = (DWORD)(wcslen(to->FileName) * sizeof(wchar_t));
        e = SetFileInformationByHandle(h, FileRenameInfo, to, (DWORD)room) ? 0 : GetLastError();
    }
    free(to);
    return e;
}

/* Access to the path was denied: a folder there is refused (EISDIR), a file there (one
 * pending deletion among them, which the system will not even describe) is a holder's:
 * busy; nothing there means a folder this process may not write: EACCES. */
static int denied(const wchar_t *w, bt_err *err) {
    DWORD a = GetFileAttributesW(w);
    if (a != INVALID_FILE_ATTRIBUTES && (a & FILE_ATTRIBUTE_DIRECTORY))
        return bt_fail(err, "use", EISDIR, NULL);
    if (a != INVALID_FILE_ATTRIBUTES || GetLastError() == ERROR_ACCESS_DENIED)
        return BT_BUSY;
    return bt_fail(err, "create", EACCES, NULL);
}

/* What the file open as h (never followed) is not allowed to be: BT_OK, or BT_FAIL. */
static int plain_file(HANDLE h, bt_err *err) {
    BY_HANDLE_FILE_INFORMATION fi;
    if (!GetFileInformationByHandle(h, &fi))
        return bt_win_fail(err, "stat", GetLastError());
    if (fi.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT)
        return bt_fail(err, "use", ELOOP, "it is a symbolic link");
    if (fi.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)
        return bt_fail(err, "use", EISDIR, NULL);
    return BT_OK;
}

/* Look at the marker in the way: BT_OK when it was stale and is gone now, or was gone
 * already; BT_BUSY when it stands; BT_FAIL (a lease of another length, a link or a folder in
 * its place, or the break failed). A link is looked at itself, never followed: breaking
 * must never move or delete what it points to. */
static int judge(bt_soft *l, const wchar_t *w, bt_err *err) {
    HANDLE h = CreateFileW(w, GENERIC_READ | DELETE, BT_WIN_SHARE_ALL, NULL, OPEN_EXISTING,
                           FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT, NULL);
    if (h == INVALID_HANDLE_VALUE) {
        DWORD e = GetLastError();
        return e == ERROR_FILE_NOT_FOUND ? BT_OK : e == ERROR_ACCESS_DENIED ? denied(w, err) : BT_BUSY;
    }
    int v = plain_file(h, err) == BT_OK ? verdict(l, h) : -1, rc = BT_BUSY;
    if (v < 0) {
        rc = BT_FAIL;
    } else if (v == MISMATCH) {
        rc = bt_fail(err, "use", EINVAL, l->why);
    } else if (v == SENTINEL) {
        rc = bt_fail(err, "use", EEXIST, BT_STRICT_DETAIL);
    } else if (v == STALE) {
        DWORD e = move_aside(h, w);
        if (e == 0)
            rc = delete_on_close(h) == 0 ? BT_OK : BT_BUSY;
        else if (e == ERROR_NOT_SUPPORTED || e == ERROR_INVALID_PARAMETER)
            rc = delete_on_close(h) == 0 ? BT_OK : BT_BUSY; /* no rename here: as before */
        else if (e != ERROR_ACCESS_DENIED && e != ERROR_SHARING_VIOLATION)
            rc = bt_win_fail(err, "break the stale", e);
    }
    CloseHandle(h);
    return rc;
}

/* This acquisition's lease marker (protocol 2), made once per acquisition: its claim (32
 * random hexadecimal digits) names the acquisition as filelock's token does. */
static void lease_marker(bt_soft *l, const char *token) {
    if (l->lease_len > 0 && l->lease_pid == bt_pid())
        return;
    char claim[33];
    unsigned long long a = bt_soft_random(), b = bt_soft_random();
    snprintf(claim, sizeof claim, "%016llx%016llx", a, b);
    l->lease_len = bt_marker_format_lease(l->lease_text, sizeof l->lease_text,
                                          (long)GetCurrentProcessId(), bt_soft_host(), claim,
                                          l->lease, token);
    l->lease_pid = bt_pid();
}

/* Write our marker into the new file open as h: 0, or the error. */
static DWORD write_marker(bt_soft *l, HANDLE h) {
    char token[BT_TOKEN_LEN], buf[BT_HOST_LEN + 2 * BT_TOKEN_LEN];
    token_of(GetCurrentProcess(), token);
    size_t n;
    const char *text = buf;
    if (l->lease > 0) {
        lease_marker(l, token);
        n = l->lease_len;
        text = l->lease_text;
    } else {
        n = bt_marker_format(buf, sizeof buf, (long)GetCurrentProcessId(), bt_soft_host(), token);
    }
    DWORD put = 0;
    if (n == 0)
        return ERROR_BUFFER_OVERFLOW;
    if (!WriteFile(h, text, (DWORD)n, &put, NULL))
        return GetLastError();
    return put == n ? 0 : ERROR_HANDLE_DISK_FULL;
}

void bt_soft_set_lease(bt_soft *l, double lease, double every) {
    l->lease = lease;
    l->every = every;
}

int bt_soft_lost(const bt_soft *l, char *why, size_t cap, const char **reason) {
    return l->fd >= 0 && bt_beat_lost(l->beat, why, cap, reason);
}

int bt_soft_lostfd(const bt_soft *l) { return l->fd >= 0 ? bt_beat_fd(l->beat) : -1; }

/* Delete the file at w if it is still the one open as mine. mine has no DELETE access (a
 * holder's marker stays readable by openers that do not share deletion, as msvcrt's), so
 * the path is opened again for it. */
static void delete_if_mine(HANDLE mine, const wchar_t *w) {
    bt_win_id a, b;
    if (bt_win_id_of(mine, &a) != 0)
        return;
    HANDLE h = CreateFileW(w, DELETE, BT_WIN_SHARE_ALL, NULL, OPEN_EXISTING,
                           FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT, NULL);
    if (h == INVALID_HANDLE_VALUE)
        return;
    if (bt_win_id_of(h, &b) == 0 && bt_win_same_id(&a, &b))
        delete_on_close(h);
    CloseHandle(h);
}

/* A lease just taken: its heartbeat keeps it young. Failing to start it gives the lock back. */
static int start_beat(bt_soft *l, const char *path, const wchar_t *w, bt_err *err) {
    l->beat = bt_beat_start(-1, path, path, l->fd, 0, 0, l->lease, l->every);
    if (l->beat)
        return BT_OK;
    int saved = errno;
    delete_if_mine((HANDLE)_get_osfhandle(l->fd), w); /* made by us a moment ago, and we live */
    _close(l->fd);
    l->fd = -1;
    return bt_fail(err, "start the heartbeat of the lease", saved, NULL);
}

static HANDLE create_marker(const wchar_t *w, DWORD *e) {
    HANDLE h = CreateFileW(w, GENERIC_WRITE | FILE_READ_ATTRIBUTES, BT_WIN_SHARE_ALL, NULL, CREATE_NEW,
                           FILE_ATTRIBUTE_NORMAL, NULL);
    *e = h == INVALID_HANDLE_VALUE ? GetLastError() : 0;
    return h;
}

int bt_soft_try(bt_soft *l, const char *path, bt_err *err) {
    if (l->fd >= 0)
        return BT_OK;
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
            DWORD we = write_marker(l, h);
            int fd = we ? -1 : _open_osfhandle((intptr_t)h, _O_WRONLY);
            if (fd < 0) {
                delete_if_mine(h, w);
                CloseHandle(h);
                rc = we ? bt_win_fail(err, "write", we) : bt_fail(err, "open", EMFILE, NULL);
                break;
            }
            l->fd = fd;
            l->owner = bt_pid();
            rc = l->lease > 0 ? start_beat(l, path, w, err) : BT_OK;
        } else if (e == ERROR_FILE_EXISTS || e == ERROR_ALREADY_EXISTS) {
            if ((rc = judge(l, w, err)) == BT_OK)
                rc = BT_BUSY; /* gone: create it again */
            else
                break; /* a live holder's, or refused */
        } else if (e == ERROR_ACCESS_DENIED) {
            rc = denied(w, err); /* a folder, a file pending deletion, or a folder not ours */
            break;
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

int bt_soft_held(const bt_soft *l) {
    char why[8];
    return l->fd >= 0 && !bt_beat_lost(l->beat, why, sizeof why, NULL);
}

/* Publish the holder's record (windows_records.c), found by the marker's identity. */
void bt_soft_record(bt_soft *l, const char *note, size_t note_len) {
    if (!bt_soft_held(l))
        return;
    bt_record_drop(l->record);
    l->record = bt_win_record_add(BT_RECORD_SOFT, 0, (HANDLE)_get_osfhandle(l->fd), note, note_len);
}

/* Delete the marker if the path still names ours, then let ours go. */
void bt_soft_release(bt_soft *l, const char *path) {
    bt_watch_stop(&l->watch);
    bt_beat_stop(l->beat); /* first: it uses the marker's handle */
    l->beat = NULL;
    l->lease_len = 0;
    bt_record_drop(l->record);
    l->record = -1;
    if (l->fd < 0)
        return;
    DWORD e;
    wchar_t *w = bt_win_wide(path, &e);
    if (w)
        delete_if_mine((HANDLE)_get_osfhandle(l->fd), w);
    free(w);
    _close(l->fd);
    l->fd = -1;
}

int bt_soft_break(const char *path, bt_err *err) {
    bt_soft l;
    bt_soft_init(&l, 0, 0, -1);
    l.force = 1;
    DWORD e;
    wchar_t *w = bt_win_wide(path, &e);
    if (!w)
        return bt_win_fail(err, "break", e);
    int rc = judge(&l, w, err);
    free(w);
    return rc;
}

int bt_soft_inspect(const char *path, double stale_after, bt_soft_info *info) {
    memset(info, 0, sizeof *info);
    DWORD e;
    wchar_t *w = bt_win_wide(path, &e);
    if (!w) {
        errno = bt_win_errno(e);
        return -1;
    }
    HANDLE h = CreateFileW(w, GENERIC_READ, BT_WIN_SHARE_ALL, NULL, OPEN_EXISTING,
                           FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT, NULL);
    e = h == INVALID_HANDLE_VALUE ? GetLastError() : 0;
    free(w);
    if (e) {
        errno = bt_win_errno(e);
        return e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND ? 0 : -1;
    }
    BY_HANDLE_FILE_INFORMATION fi;
    char buf[BT_MARKER_MAX + 1];
    DWORD got = 0;
    int r = 0;
    if (GetFileInformationByHandle(h, &fi) &&
        !(fi.dwFileAttributes & (FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_REPARSE_POINT)) &&
        ReadFile(h, buf, sizeof buf, &got, NULL)) {
        info->mtime = bt_win_epoch(&fi.ftLastWriteTime);
        info->size = ((size_t)fi.nFileSizeHigh << 32) | fi.nFileSizeLow;
        info->named = got <= BT_MARKER_MAX && bt_marker_parse(buf, got, &info->m);
        info->this_host = info->named && same_host(&info->m);
        info->alive = !info->named ? -1 : info->this_host ? owner_alive(&info->m) : -1;
        info->strict = bt_marker_is_sentinel(buf, got);
        info->foreign = !info->named && !info->strict && got > 0;
        info->believed = 1; /* no file owner to hold it against */
        bt_soft judge_with;
        bt_soft_init(&judge_with, 0, 0, stale_after);
        SetFilePointer(h, 0, NULL, FILE_BEGIN);
        info->stale = verdict(&judge_with, h) == STALE;
        r = 1;
    }
    CloseHandle(h);
    return r;
}
