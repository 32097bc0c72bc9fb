/* The release watch (os.h's bt_watch_*) on Windows: a change notification on a soft
 * marker's folder (FindFirstChangeNotificationW with FILE_NOTIFY_CHANGE_FILE_NAME), which is
 * signalled when a name in the folder is created, deleted or renamed, so a waiter tries again
 * as soon as the marker leaves it. The notification names no file: when it comes, the
 * marker's name is looked up (GetFileAttributesW, far cheaper than an attempt); while it is
 * still there the rest of the pause is slept, so other names coming and going in a busy
 * folder cost one look a pause and no attempt (a release among them is then found at the
 * pause's end, as without a watch). The caller's pauses bound every wait.
 *
 * No notification tells of an unlock or of a handle closed: a watch on lock files (a
 * semaphore's slots, a read/write lock file) waits on each file's release event instead,
 * which a baton flock holder's release sets (windows.c), for at most the pause; a release by
 * anything else is found by the caller's next attempt, as without a watch.
 *
 * The watch's `fd` holds the notification handle's value while a folder is armed, 0 while
 * files are (their events' handles in wd[], -1 for a file that has none), -1 otherwise.
 * Handles of kernel objects fit in 32 bits and may be truncated and sign-extended (as
 * Windows does between 64-bit and 32-bit processes), so an int keeps one whole. None is a
 * descriptor: bt_watch_fd says -1, and an event loop's `poll` gets none. */
#include "windows.h"

#include <stdint.h>
#include <stdlib.h>

#include "../clock.h"
#include "../pid.h"
#include "os.h"

static HANDLE handle_of(const bt_watch *w) { return (HANDLE)(intptr_t)w->fd; }

static HANDLE as_handle(int v) { return (HANDLE)(intptr_t)v; }

static void stop(bt_watch *w) {
    if (w->fd < 0)
        return;
    if (w->folder)
        FindCloseChangeNotification(handle_of(w));
    for (int i = 0; i < w->n; i++) {
        if (!w->folder && w->wd[i] >= 0)
            CloseHandle(as_handle(w->wd[i]));
        w->wd[i] = -1;
    }
    w->fd = -1;
}

void bt_watch_stop(bt_watch *w) { stop(w); }

void bt_watch_close(bt_watch *w) { stop(w); }

int bt_watch_fd(const bt_watch *w) {
    (void)w;
    return -1; /* a HANDLE, not a descriptor an event loop could poll */
}

int bt_watch_retarget(bt_watch *w, int i, const char *path) {
    (void)w;
    (void)i;
    (void)path;
    return 0; /* lock files are never watched here */
}

/* Watch the folder at `folder` (UTF-8) for names changing in it: 1 when armed. */
static int arm(bt_watch *w, const char *folder) {
    DWORD e;
    wchar_t *wide = bt_win_wide(folder, &e);
    if (!wide)
        return 0;
    HANDLE h = FindFirstChangeNotificationW(wide, FALSE, FILE_NOTIFY_CHANGE_FILE_NAME);
    free(wide);
    intptr_t v = (intptr_t)h;
    if (h == INVALID_HANDLE_VALUE || h == NULL || v < 0 || v > INT32_MAX) {
        if (h != INVALID_HANDLE_VALUE && h != NULL)
            FindCloseChangeNotification(h);
        return 0;
    }
    w->fd = (int)v;
    w->owner = bt_pid();
    w->folder = 1;
    w->wd[0] = 0;
    return 1;
}

/* The release event of the lock file at `path` (UTF-8), as an int, or -1. */
static int file_event(const char *path) {
    DWORD e;
    wchar_t *wide = bt_win_wide(path, &e);
    if (!wide)
        return -1;
    HANDLE f = CreateFileW(wide, 0, BT_WIN_SHARE_ALL, NULL, OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, NULL);
    free(wide);
    if (f == INVALID_HANDLE_VALUE)
        return -1;
    bt_win_id id;
    HANDLE h = bt_win_id_of(f, &id) == 0 ? bt_win_release_event(&id, 1) : NULL;
    CloseHandle(f);
    intptr_t v = (intptr_t)h;
    if (h && (v < 0 || v > INT32_MAX)) {
        CloseHandle(h);
        return -1;
    }
    return h ? (int)v : -1;
}

/* Wait on the release events of the lock files at `paths` (up to MAXIMUM_WAIT_OBJECTS of
 * them): 1 when armed on any. */
static int arm_files(bt_watch *w, const char *const *paths) {
    int any = 0;
    for (int i = 0; i < w->n; i++) {
        w->wd[i] = i < MAXIMUM_WAIT_OBJECTS ? file_event(paths[i]) : -1;
        any |= w->wd[i] >= 0;
    }
    if (!any)
        return 0;
    w->fd = 0;
    w->owner = bt_pid();
    w->folder = 0;
    return 1;
}

/* 1 while the entry `entry` of the folder `folder` is there (or cannot be told), 0 once it
 * is gone or pending deletion. */
static int still_there(const char *folder, const char *entry) {
    DWORD e;
    wchar_t *dir = bt_win_wide(folder, &e), *name = bt_win_wide(entry, &e);
    wchar_t *whole = dir && name ? malloc((wcslen(dir) + wcslen(name) + 2) * sizeof *whole) : NULL;
    int there = 1;
    if (whole) {
        size_t n = wcslen(dir);
        wcscpy(whole, dir);
        if (n && dir[n - 1] != L'\\' && dir[n - 1] != L'/' && dir[n - 1] != L':')
            wcscat(whole, L"\\"); /* a root ("C:\\", "\\") or a drive ("C:") has its own */
        wcscat(whole, name);
        there = GetFileAttributesW(whole) != INVALID_FILE_ATTRIBUTES;
        e = GetLastError();
        if (!there && e != ERROR_FILE_NOT_FOUND && e != ERROR_ACCESS_DENIED)
            there = 1; /* not a sign of a release: let the pause end as it would */
    }
    free(whole);
    free(name);
    free(dir);
    return there;
}

/* A wait on the armed files' events; the one that wakes it is reset before the caller's
 * attempt. */
static int wait_files(bt_watch *w, double seconds) {
    HANDLE h[MAXIMUM_WAIT_OBJECTS];
    DWORD k = 0;
    for (int i = 0; i < w->n && k < MAXIMUM_WAIT_OBJECTS; i++)
        if (w->wd[i] >= 0)
            h[k++] = as_handle(w->wd[i]);
    DWORD r = WaitForMultipleObjects(k, h, FALSE, bt_win_millis(seconds));
    if (r == WAIT_TIMEOUT)
        return BT_WOKE_NOTHING;
    if (r >= WAIT_OBJECT_0 + k) {
        stop(w); /* armed again next time */
        bt_sleep(seconds);
        return BT_WOKE_NOTHING;
    }
    ResetEvent(h[r - WAIT_OBJECT_0]);
    return BT_WOKE_EVENT;
}

int bt_watch_wait(bt_watch *w, const char *const *paths, int folder, const char *entry,
                  double seconds) {
    if (w->fd < 0) {
        if (folder ? w->n == 1 && arm(w, paths[0]) : arm_files(w, paths))
            return BT_WOKE_ARMED;
        bt_sleep(seconds);
        return BT_WOKE_NOTHING;
    }
    if (!w->folder)
        return wait_files(w, seconds);
    double deadline = bt_now() + (seconds > 0 ? seconds : 0);
    DWORD r = WaitForSingleObject(handle_of(w), bt_win_millis(seconds));
    if (r == WAIT_TIMEOUT)
        return BT_WOKE_NOTHING;
    if (r != WAIT_OBJECT_0 || !FindNextChangeNotification(handle_of(w))) {
        /* The folder went away, or the handle failed: armed again, on what is there, next
         * time. */
        stop(w);
        return BT_WOKE_REPLACED;
    }
    if (!entry || !still_there(paths[0], entry))
        return BT_WOKE_EVENT;
    /* Another name changed, and the marker is still there: no attempt for that, and the rest
     * of the pause is slept, so that a busy folder costs at most one look a pause. */
    bt_sleep(deadline - bt_now());
    return BT_WOKE_NOTHING;
}
