/* The release watch (os.h's bt_watch_*) on Windows: a change notification on a soft
 * marker's folder (FindFirstChangeNotificationW with FILE_NOTIFY_CHANGE_FILE_NAME), which is
 * signalled when a name in the folder is created, deleted or renamed, so a waiter tries again
 * as soon as the marker leaves it. The notification names no file: when it comes, the
 * marker's name is looked up (GetFileAttributesW, far cheaper than an attempt); while it is
 * still there the rest of the pause is slept, so other names coming and going in a busy
 * folder cost one look a pause and no attempt (a release among them is then found at the
 * pause's end, as without a watch). The caller's pauses bound every wait.
 *
 * Lock files are not watched: no notification tells of an unlock or of a handle closed, so
 * a flock wait with a deadline is a series of attempts (windows.c).
 *
 * The watch's `fd` holds the notification handle's value while armed, -1 otherwise. Handles
 * of kernel objects fit in 32 bits and may be truncated and sign-extended (as Windows does
 * between 64-bit and 32-bit processes), so the int keeps it whole. It is not a descriptor:
 * bt_watch_fd says -1, and an event loop's `poll` gets none. */
#include "windows.h"

#include <stdint.h>
#include <stdlib.h>

#include "../clock.h"
#include "../pid.h"
#include "os.h"

static HANDLE handle_of(const bt_watch *w) { return (HANDLE)(intptr_t)w->fd; }

static void stop(bt_watch *w) {
    if (w->fd < 0)
        return;
    FindCloseChangeNotification(handle_of(w));
    w->fd = -1;
    for (int i = 0; i < w->n; i++)
        w->wd[i] = -1;
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

/* `seconds` as the milliseconds of a wait, rounded up (a pause is never cut short), under
 * INFINITE. */
static DWORD millis(double seconds) {
    if (!(seconds > 0))
        return 0;
    if (seconds > 4e6)
        seconds = 4e6;
    DWORD ms = (DWORD)(seconds * 1000.0);
    return (double)ms < seconds * 1000.0 ? ms + 1 : ms;
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

int bt_watch_wait(bt_watch *w, const char *const *paths, int folder, const char *entry,
                  double seconds) {
    if (w->fd < 0) {
        if (folder && w->n == 1 && arm(w, paths[0]))
            return BT_WOKE_ARMED;
        bt_sleep(seconds);
        return BT_WOKE_NOTHING;
    }
    double deadline = bt_now() + (seconds > 0 ? seconds : 0);
    DWORD r = WaitForSingleObject(handle_of(w), millis(seconds));
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
