/* The heartbeat of a soft lease on Windows (soft_lease.h): a thread of its own that, every
 * `every` seconds, checks that the path still names the marker it was started on (the volume
 * serial and file index of the holder's handle) and sets the marker's modification time
 * through that handle (SetFileTime). Between refreshes it waits on an event with a timeout,
 * which the stop sets: it never spins. It ends at the first loss, as on POSIX: the marker
 * removed or pending deletion (marker-missing), the path naming another file (owner-changed),
 * or refreshes failing for lease - every seconds (refresh-failed). No descriptor signals the
 * loss here: bt_beat_fd is -1, and the Lua side learns of it at its next call. */
#include "windows.h"

#include <errno.h>
#include <io.h>
#include <process.h>
#include <stdio.h>
#include <stdlib.h>

#include "../clock.h"
#include "../pid.h"
#include "../soft_lease.h"

struct bt_beat {
    HANDLE thread;
    HANDLE wake;        /* set by the stop */
    SRWLOCK mu;         /* guards lost, reason, why */
    int lost;
    const char *reason;
    char why[512];
    HANDLE file;        /* the holder's marker handle (the holder's: never closed here) */
    bt_win_id id;       /* its identity */
    wchar_t *where;     /* the marker's path */
    double lease, every;
    pid_t owner;
};

static void mark_lost(bt_beat *b, const char *reason, const char *what, DWORD code) {
    AcquireSRWLockExclusive(&b->mu);
    b->lost = 1;
    b->reason = reason;
    if (code)
        snprintf(b->why, sizeof b->why, "%s: Windows error %lu (%s)", what, (unsigned long)code,
                 reason);
    else
        snprintf(b->why, sizeof b->why, "%s (%s)", what, reason);
    ReleaseSRWLockExclusive(&b->mu);
}

/* 1 when the file open as h is deleted, its name kept until its last handle closes. */
static int delete_pending(HANDLE h) {
    FILE_STANDARD_INFO std;
    return GetFileInformationByHandleEx(h, FileStandardInfo, &std, sizeof std) && std.DeletePending;
}

/* One refresh: is the path still our marker (not another file, not deleted under our
 * handle)? Then set its modification time to now. */
static int refresh(bt_beat *b, DWORD *code) {
    *code = 0;
    HANDLE h = CreateFileW(b->where, 0, BT_WIN_SHARE_ALL, NULL, OPEN_EXISTING,
                           FILE_FLAG_BACKUP_SEMANTICS, NULL);
    if (h == INVALID_HANDLE_VALUE) {
        *code = GetLastError();
        if (*code == ERROR_FILE_NOT_FOUND || *code == ERROR_PATH_NOT_FOUND || delete_pending(b->file))
            return BT_BEAT_MISSING;
        return BT_BEAT_TRANSIENT;
    }
    bt_win_id now;
    int known = bt_win_id_of(h, &now) == 0;
    *code = known ? 0 : GetLastError();
    CloseHandle(h);
    if (!known)
        return BT_BEAT_TRANSIENT;
    if (!bt_win_same_id(&now, &b->id))
        return BT_BEAT_CHANGED;
    if (delete_pending(b->file))
        return BT_BEAT_MISSING;
    FILETIME t;
    GetSystemTimeAsFileTime(&t);
    if (!SetFileTime(b->file, NULL, NULL, &t)) {
        *code = GetLastError();
        return BT_BEAT_TRANSIENT;
    }
    return BT_BEAT_OK;
}

/* 1 when the heartbeat ends with what a refresh found. */
static int judge(bt_beat *b, int r, DWORD code, double now, double *last_ok) {
    const char *what, *reason = bt_beat_verdict(r, now, last_ok, b->lease, b->every, &what);
    if (reason)
        mark_lost(b, reason, what, r == BT_BEAT_TRANSIENT ? code : 0);
    return reason != NULL;
}

/* Wait until bt_now() reaches `when`: 1 when told to stop meanwhile. */
static int stopped_before(bt_beat *b, double when) {
    double left = when - bt_now();
    if (!(left > 0))
        return WaitForSingleObject(b->wake, 0) == WAIT_OBJECT_0;
    DWORD ms = (DWORD)(left * 1000.0) + 1; /* rounded up: never early */
    return WaitForSingleObject(b->wake, ms) == WAIT_OBJECT_0;
}

static unsigned __stdcall beat(void *arg) {
    bt_beat *b = arg;
    double last_ok = bt_now(), next = last_ok + b->every;
    for (;;) {
        if (bt_now() < next) {
            if (stopped_before(b, next))
                break;
            continue;
        }
        DWORD code;
        int r = refresh(b, &code);
        double now = bt_now();
        if (WaitForSingleObject(b->wake, 0) == WAIT_OBJECT_0 || judge(b, r, code, now, &last_ok))
            break;
        next = now + b->every;
    }
    return 0;
}

static void free_beat(bt_beat *b) {
    if (b->wake)
        CloseHandle(b->wake);
    free(b->where);
    free(b);
}

/* dir, name, dev and ino are POSIX's: here the marker is the whole path, and its identity is
 * read from the handle behind fd. */
bt_beat *bt_beat_start(int dir, const char *path, const char *name, int fd, dev_t dev,
                       ino_t ino, double lease, double every) {
    (void)dir;
    (void)name;
    (void)dev;
    (void)ino;
    bt_beat *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    DWORD e = 0;
    InitializeSRWLock(&b->mu);
    b->file = (HANDLE)_get_osfhandle(fd);
    b->lease = lease;
    b->every = every;
    b->where = bt_win_wide(path, &e);
    if (b->where && bt_win_id_of(b->file, &b->id) != 0)
        e = GetLastError();
    if (b->where && !e && !(b->wake = CreateEventW(NULL, TRUE, FALSE, NULL)))
        e = GetLastError();
    if (!e) {
        uintptr_t t = _beginthreadex(NULL, 0, beat, b, 0, NULL);
        if (t)
            b->thread = (HANDLE)t;
        else
            e = ERROR_NOT_ENOUGH_MEMORY;
    }
    if (e) {
        free_beat(b);
        errno = bt_win_errno(e);
        return NULL;
    }
    b->owner = bt_pid();
    return b;
}

int bt_beat_lost(bt_beat *b, char *why, size_t cap, const char **reason) {
    if (!b)
        return 0;
    AcquireSRWLockShared(&b->mu);
    int lost = b->lost;
    if (lost) {
        snprintf(why, cap, "%s", b->why);
        if (reason)
            *reason = b->reason;
    }
    ReleaseSRWLockShared(&b->mu);
    return lost;
}

int bt_beat_fd(const bt_beat *b) {
    (void)b;
    return -1;
}

void bt_beat_stop(bt_beat *b) {
    if (!b)
        return;
    SetEvent(b->wake);
    WaitForSingleObject(b->thread, INFINITE);
    CloseHandle(b->thread);
    free_beat(b);
}
