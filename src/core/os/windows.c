/* The Windows backend (make PLATFORM=windows, mingw-w64): the monotonic clock, the process
 * id, and the flock kind (flock_lock.h) over LockFileEx, which is the lock Python filelock's
 * WindowsFileLock takes: one byte at offset 0 of the lock file, exclusive, and a lock that
 * belongs to the file handle, so two lock objects of one process exclude each other too.
 *
 * The lock file is opened with CreateFileW (the UTF-8 path converted), OPEN_ALWAYS, read and
 * write access, share modes that never keep a peer from opening, renaming or deleting it
 * (FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE), and a handle no child process
 * inherits. It is kept as a C runtime descriptor (_open_osfhandle), so that fileno() and
 * close() work on it as on POSIX. A wait without a deadline blocks in LockFileEx (the
 * system's queue); a wait with one is a series of attempts with pauses, which the caller
 * backs off (lua/baton/wait.lua), and which a baton holder's release cuts short through the
 * lock file's release event (below). Soft locks are windows_soft.c's, read/write lock files
 * windows_rw.c's (semaphores are slots of this kind), holder records windows_records.c's,
 * child processes windows_process.c's. */
#include "windows.h"

#include <errno.h>
#include <io.h>
#include <stdint.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "../clock.h"
#include "../flock_lock.h"
#include "../pid.h"
#include "windows_interrupt.h"
#include "windows_records.h"

/* ---- the clock and the process --------------------------------------------------------- */

double bt_now(void) {
    static LARGE_INTEGER freq; /* constant from boot on: reading it twice is harmless */
    LARGE_INTEGER now;
    if (freq.QuadPart == 0)
        QueryPerformanceFrequency(&freq);
    QueryPerformanceCounter(&now);
    return (double)now.QuadPart / (double)freq.QuadPart;
}

DWORD bt_win_millis(double seconds) {
    if (!(seconds > 0))
        return 0;
    if (seconds > 4e6)
        seconds = 4e6; /* under INFINITE's milliseconds */
    DWORD ms = (DWORD)(seconds * 1000.0);
    return (double)ms < seconds * 1000.0 ? ms + 1 : ms; /* a pause is never shorter than asked */
}

int bt_sleep(double seconds) {
    return seconds > 0 && bt_win_wait_interruptible(NULL, bt_win_millis(seconds)) < 0; /* a host's Ctrl-C ends it early */
}

pid_t bt_pid(void) { return (pid_t)GetCurrentProcessId(); }

const char *bt_os_name(void) { return "windows"; }

/* ---- errors ------------------------------------------------------------------------------ */

/* The errno value that says what a Windows error code means, for messages and codes. */
int bt_win_errno(DWORD e) {
    switch (e) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
    case ERROR_INVALID_DRIVE:
    case ERROR_BAD_NETPATH:
        return ENOENT;
    case ERROR_ACCESS_DENIED:
    case ERROR_WRITE_PROTECT:
    case ERROR_SHARING_VIOLATION:
        return EACCES;
    case ERROR_FILE_EXISTS:
    case ERROR_ALREADY_EXISTS:
        return EEXIST;
    case ERROR_INVALID_NAME:
    case ERROR_BAD_PATHNAME:
    case ERROR_DIRECTORY:
    case ERROR_NO_UNICODE_TRANSLATION:
        return EINVAL;
    case ERROR_FILENAME_EXCED_RANGE:
        return ENAMETOOLONG;
    case ERROR_TOO_MANY_OPEN_FILES:
        return EMFILE;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
        return ENOMEM;
    case ERROR_DISK_FULL:
    case ERROR_HANDLE_DISK_FULL:
        return ENOSPC;
    case ERROR_NOT_LOCKED:
    case ERROR_LOCK_FAILED:
        return ENOLCK;
    default:
        return EIO;
    }
}

int bt_win_fail(bt_err *err, const char *op, DWORD e) { return bt_fail(err, op, bt_win_errno(e), NULL); }

/* ---- paths ------------------------------------------------------------------------------- */

wchar_t *bt_win_wide(const char *path, DWORD *e) {
    int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, NULL, 0);
    if (n <= 0) {
        *e = GetLastError();
        return NULL;
    }
    wchar_t *w = malloc((size_t)n * sizeof *w);
    if (!w) {
        *e = ERROR_NOT_ENOUGH_MEMORY;
        return NULL;
    }
    MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, w, n);
    return w;
}

static int is_sep(wchar_t c) { return c == L'\\' || c == L'/'; }

DWORD bt_win_make_parents(wchar_t *w) {
    size_t len = wcslen(w), start = 0;
    if (len >= 2 && w[1] == L':')
        start = 2; /* a drive letter */
    else if (len >= 2 && is_sep(w[0]) && is_sep(w[1]))
        return 0; /* a UNC or device path: its folders are the server's */
    while (start < len && is_sep(w[start]))
        start++;
    for (size_t i = start; i < len; i++) {
        if (!is_sep(w[i]))
            continue;
        wchar_t c = w[i];
        w[i] = L'\0';
        BOOL made = CreateDirectoryW(w, NULL);
        DWORD e = made ? 0 : GetLastError();
        w[i] = c;
        if (e && e != ERROR_ALREADY_EXISTS)
            return e;
    }
    return 0;
}

/* The lock file, opened or made: a handle no child inherits (NULL security attributes). */
static HANDLE open_lock_file(const char *path, int parents, DWORD *e) {
    wchar_t *w = bt_win_wide(path, e);
    if (!w)
        return INVALID_HANDLE_VALUE;
    HANDLE h = CreateFileW(w, GENERIC_READ | GENERIC_WRITE, BT_WIN_SHARE_ALL, NULL, OPEN_ALWAYS,
                           FILE_ATTRIBUTE_NORMAL, NULL);
    *e = h == INVALID_HANDLE_VALUE ? GetLastError() : 0;
    if (h == INVALID_HANDLE_VALUE && *e == ERROR_PATH_NOT_FOUND && parents && !bt_win_make_parents(w)) {
        h = CreateFileW(w, GENERIC_READ | GENERIC_WRITE, BT_WIN_SHARE_ALL, NULL, OPEN_ALWAYS,
                        FILE_ATTRIBUTE_NORMAL, NULL);
        *e = h == INVALID_HANDLE_VALUE ? GetLastError() : 0;
    }
    free(w);
    return h;
}

int bt_win_id_of(HANDLE h, bt_win_id *id) {
    BY_HANDLE_FILE_INFORMATION info;
    if (!GetFileInformationByHandle(h, &info))
        return -1;
    id->volume = info.dwVolumeSerialNumber;
    id->high = info.nFileIndexHigh;
    id->low = info.nFileIndexLow;
    return 0;
}

int bt_win_id_at(const char *path, bt_win_id *id) {
    DWORD e;
    wchar_t *w = bt_win_wide(path, &e);
    if (!w)
        return 0;
    HANDLE h = CreateFileW(w, 0, BT_WIN_SHARE_ALL, NULL, OPEN_EXISTING,
                           FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT, NULL);
    free(w);
    if (h == INVALID_HANDLE_VALUE)
        return 0;
    int ok = bt_win_id_of(h, id) == 0;
    CloseHandle(h);
    return ok;
}

int bt_win_same_id(const bt_win_id *a, const bt_win_id *b) {
    return a->volume == b->volume && a->high == b->high && a->low == b->low;
}

/* 1 when the path no longer names the file `mine` (deleted, renamed away, replaced). The
 * look opens nothing for reading or writing, and shares everything. */
static int replaced(const char *path, const bt_win_id *mine) {
    DWORD e;
    wchar_t *w = bt_win_wide(path, &e);
    if (!w)
        return 1;
    HANDLE h = CreateFileW(w, 0, BT_WIN_SHARE_ALL, NULL, OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, NULL);
    free(w);
    if (h == INVALID_HANDLE_VALUE)
        return 1; /* gone, or pending deletion */
    bt_win_id now;
    int r = bt_win_id_of(h, &now) != 0 || !bt_win_same_id(&now, mine);
    CloseHandle(h);
    return r;
}

/* ---- the flock kind over LockFileEx --------------------------------------------------- */

#define MAX_REOPENS 64

static HANDLE handle_of(const bt_flock *l) { return (HANDLE)_get_osfhandle(l->fd); }

void bt_flock_init(bt_flock *l, int shared, mode_t mode, int make_parents) {
    memset(l, 0, sizeof *l);
    l->fd = -1;
    bt_watch_init(&l->watch, &l->wd, 1);
    l->shared = shared;
    l->make_parents = make_parents;
    l->mode = mode;
    l->record = -1;
}

/* Every lock this process holds, for bt_flock_held_here. */
static bt_flock *held_list;
static SRWLOCK held_guard = SRWLOCK_INIT;

static void list_held(bt_flock *l) {
    AcquireSRWLockExclusive(&held_guard);
    l->held_prev = NULL;
    l->held_next = held_list;
    if (held_list)
        held_list->held_prev = l;
    held_list = l;
    l->listed = 1;
    ReleaseSRWLockExclusive(&held_guard);
}

static void unlist_held(bt_flock *l) {
    if (!l->listed)
        return;
    AcquireSRWLockExclusive(&held_guard);
    if (l->held_prev)
        l->held_prev->held_next = l->held_next;
    else
        held_list = l->held_next;
    if (l->held_next)
        l->held_next->held_prev = l->held_prev;
    l->held_next = l->held_prev = NULL;
    l->listed = 0;
    ReleaseSRWLockExclusive(&held_guard);
}

const bt_flock *bt_flock_held_here(const bt_flock *l) {
    bt_win_id mine, theirs;
    if (l->fd < 0 || l->locked || bt_win_id_of(handle_of(l), &mine) != 0)
        return NULL;
    const bt_flock *found = NULL;
    AcquireSRWLockShared(&held_guard);
    for (const bt_flock *o = held_list; o && !found; o = o->held_next)
        if (o != l && o->locked && !(o->shared && l->shared) && bt_win_id_of(handle_of(o), &theirs) == 0 &&
            bt_win_same_id(&mine, &theirs))
            found = o;
    ReleaseSRWLockShared(&held_guard);
    return found;
}

/* ---- the release event ------------------------------------------------------------------
 * Windows tells no one of an unlock, so a waiter with a deadline would find a release only by
 * its attempts. Each lock file has a named manual-reset event instead,
 * Local\baton-release-VVVVVVVV-HHHHHHHHLLLLLLLL (the file's volume serial and file index, as
 * the holder records' shared memory: one file, one name however its path is spelt). A waiter
 * makes or opens it (its first wait only arms, so that its next attempt closes the race with
 * a release before it) and waits on it for at most the pause it was given; a baton holder
 * that unlocks sets it when it exists, which it does only while some waiter keeps it open (the
 * look fails at once otherwise). A waiter that wakes resets it before its attempt: a wake lost
 * to another waiter's reset, and a release by a program that is not baton (Python filelock,
 * msvcrt's _locking), are found by the attempts as before, the pauses bounding every wait.
 *
 * The waiter's event handle is kept in l->watch.fd (kernel handles fit in 32 bits, as in
 * windows_watch.c), -1 when none; no child inherits it (NULL security attributes), and it is
 * closed when the lock is taken or the file let go. While the lock is held, the file's
 * identity is kept for the release's look (l->dev the volume serial, l->index the file
 * index: ino_t is 16 bits under mingw). */

static void keep_id(bt_flock *l, const bt_win_id *id) {
    l->dev = (dev_t)id->volume;
    l->index = ((unsigned long long)id->high << 32) | id->low;
}

static bt_win_id kept_id(const bt_flock *l) {
    bt_win_id id = {(DWORD)l->dev, (DWORD)(l->index >> 32), (DWORD)l->index};
    return id;
}

HANDLE bt_win_release_event(const bt_win_id *id, int create) {
    wchar_t name[64];
    swprintf(name, 64, L"Local\\baton-release-%08lx-%08lx%08lx", (unsigned long)id->volume,
             (unsigned long)id->high, (unsigned long)id->low);
    /* NULL security attributes: no child inherits it */
    return create ? CreateEventW(NULL, TRUE, FALSE, name) : OpenEventW(EVENT_MODIFY_STATE, FALSE, name);
}

static HANDLE event_of(const bt_flock *l) { return (HANDLE)(intptr_t)l->watch.fd; }

static void unwatch(bt_flock *l) {
    if (l->watch.fd < 0)
        return;
    CloseHandle(event_of(l));
    l->watch.fd = -1;
}

/* After an unlock: wake the waiters, if any made the event (the look fails at once when
 * none did, or none of this session). */
static void tell_waiters(const bt_flock *l) {
    bt_win_id id = kept_id(l);
    HANDLE e = bt_win_release_event(&id, 0);
    if (!e)
        return;
    SetEvent(e);
    CloseHandle(e);
}

/* The waiter's event on the file it has open: 1 when armed. */
static int arm(bt_flock *l) {
    bt_win_id id;
    if (l->fd < 0 || bt_win_id_of(handle_of(l), &id) != 0)
        return 0;
    HANDLE e = bt_win_release_event(&id, 1);
    intptr_t v = (intptr_t)e;
    if (!e || v < 0 || v > INT32_MAX) {
        if (e)
            CloseHandle(e);
        return 0;
    }
    l->watch.fd = (int)v;
    return 1;
}

static void drop_fd(bt_flock *l) {
    unlist_held(l);
    unwatch(l);
    if (l->fd < 0)
        return;
    if (l->locked) {
        OVERLAPPED ov;
        memset(&ov, 0, sizeof ov);
        UnlockFileEx(handle_of(l), 0, 1, 0, &ov);
        tell_waiters(l);
    }
    _close(l->fd); /* closes the handle too */
    l->fd = -1;
    l->locked = 0;
}

static int open_file(bt_flock *l, const char *path, bt_err *err) {
    DWORD e;
    HANDLE h = open_lock_file(path, l->make_parents, &e);
    if (h == INVALID_HANDLE_VALUE)
        return bt_win_fail(err, "open", e);
    int fd = _open_osfhandle((intptr_t)h, _O_RDWR);
    if (fd < 0) {
        CloseHandle(h);
        return bt_fail(err, "open", EMFILE, NULL);
    }
    l->fd = fd;
    l->opener = bt_pid();
    return BT_OK;
}

/* One attempt (block = 0) or a wait in the system's queue (block = 1). */
static int take(bt_flock *l, const char *path, int block, bt_err *err) {
    if (l->locked)
        return BT_OK;
    const DWORD how = (l->shared ? 0 : LOCKFILE_EXCLUSIVE_LOCK) | (block ? 0 : LOCKFILE_FAIL_IMMEDIATELY);
    for (int i = 0; i < MAX_REOPENS; i++) {
        if (l->fd < 0 && open_file(l, path, err) != BT_OK)
            return BT_FAIL;
        OVERLAPPED ov;
        memset(&ov, 0, sizeof ov); /* byte 0, as filelock's WindowsFileLock */
        bt_win_id mine;
        if (!LockFileEx(handle_of(l), how, 0, 1, 0, &ov)) {
            DWORD e = GetLastError();
            if (e != ERROR_LOCK_VIOLATION && e != ERROR_IO_PENDING) {
                drop_fd(l);
                return bt_win_fail(err, "lock", e);
            }
            /* Busy. Held on a file that is no longer at the path, we would wait forever. */
            if (bt_win_id_of(handle_of(l), &mine) == 0 && replaced(path, &mine)) {
                drop_fd(l);
                continue;
            }
            return BT_BUSY;
        }
        l->locked = 1;
        l->owner = bt_pid();
        if (bt_win_id_of(handle_of(l), &mine) != 0) {
            DWORD e = GetLastError();
            drop_fd(l);
            return bt_win_fail(err, "stat", e);
        }
        keep_id(l, &mine);
        if (replaced(path, &mine)) {
            drop_fd(l);
            continue;
        }
        unwatch(l);
        list_held(l);
        return BT_OK;
    }
    drop_fd(l);
    return bt_fail(err, "lock", EAGAIN, "the lock file keeps being replaced");
}

int bt_flock_try(bt_flock *l, const char *path, bt_err *err) { return take(l, path, 0, err); }

/* LockFileEx's wait cannot be woken, so under a host that takes Ctrl-C (an interrupt event
 * exists) the wait is attempts with pauses, backing off from 1 to 50 ms, that a baton
 * holder's release event cuts short and the interrupt ends: BT_BUSY then, as a signal ends
 * flock(2)'s wait on POSIX. */
int bt_flock_block(bt_flock *l, const char *path, bt_err *err) {
    if (!bt_win_interrupt_event())
        return take(l, path, 1, err);
    for (double pause = 0.001;; pause = pause * 2 < 0.05 ? pause * 2 : 0.05) {
        int rc = take(l, path, 0, err);
        if (rc != BT_BUSY)
            return rc;
        bt_flock_wait(l, path, pause); /* woken by a baton holder's release */
        if (bt_win_interrupted()) {
            unwatch(l);
            return BT_BUSY;
        }
    }
}

/* The pause between two attempts, cut short by the release event. (A LockFileEx request left
 * pending on a handle opened with FILE_FLAG_OVERLAPPED would be a wait on the lock itself,
 * but wine (8.0) queues none: it says ERROR_IO_PENDING and never grants the lock;
 * bench/windows/lock_wait_probe.c asks the system at hand.) */
int bt_flock_wait(bt_flock *l, const char *path, double seconds) {
    (void)path;
    if (l->watch.fd < 0) {
        if (arm(l))
            return 0; /* armed: the caller's next attempt sees a release before it */
        bt_sleep(seconds);
        return 0;
    }
    int r = bt_win_wait_interruptible(event_of(l), bt_win_millis(seconds));
    if (r == 0) {
        ResetEvent(event_of(l));
        return 1;
    }
    if (r == -2) {
        unwatch(l); /* armed again next time */
        bt_sleep(seconds);
    }
    return 0;
}

int bt_flock_pollfd(const bt_flock *l) {
    (void)l;
    return -1;
}

int bt_flock_held(const bt_flock *l) { return l->locked; }

/* The holder's record, in the lock file's shared memory (windows_records.c); lock_kinds.c's
 * release drops it. */
void bt_flock_record(bt_flock *l, const char *note, size_t note_len) {
    if (!l->locked)
        return;
    bt_record_drop(l->record);
    l->record = bt_win_record_add(BT_RECORD_FLOCK, l->shared, handle_of(l), note, note_len);
}

void bt_flock_release(bt_flock *l) { drop_fd(l); }
