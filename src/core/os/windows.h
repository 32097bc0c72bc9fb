/* What the Windows backend's files (windows.c, windows_soft.c, windows_lease.c,
 * windows_strict.c, windows_records.c, windows_watch.c) and the Windows holder binding
 * share. */
#ifndef BT_OS_WINDOWS_H
#define BT_OS_WINDOWS_H

#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include "../errors.h"

/* FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE: never keep a peer from opening,
 * renaming or deleting a file baton has open. */
#define BT_WIN_SHARE_ALL (FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)

/* `seconds` as the milliseconds of a wait or a sleep, rounded up (a pause is never cut
 * short), under INFINITE. */
DWORD bt_win_millis(double seconds);

/* The errno value that says what a Windows error code means. */
int bt_win_errno(DWORD e);

/* bt_fail with the errno value of Windows error e. */
int bt_win_fail(bt_err *err, const char *op, DWORD e);

/* The UTF-8 path as a wide string (free() it), or NULL with *e set. */
wchar_t *bt_win_wide(const char *path, DWORD *e);

/* Make the folders above the file at `w`, as mkdir -p: 0, or the first failure's error. */
DWORD bt_win_make_parents(wchar_t *w);

/* A file's identity: its volume and its index there. */
typedef struct bt_win_id {
    DWORD volume, high, low;
} bt_win_id;

/* The identity of the file open as h: 0, or -1. */
int bt_win_id_of(HANDLE h, bt_win_id *id);

int bt_win_same_id(const bt_win_id *a, const bt_win_id *b);

/* The identity of the file at `path`, not followed when it is a link, looked at with no
 * access asked and everything shared (the look disturbs nobody): 1, or 0 when there is none
 * to be had (gone, pending deletion, a bad name). */
int bt_win_id_at(const char *path, bt_win_id *id);

/* The release event of the lock file `id` (windows.c): made or opened for waiting (create =
 * 1), or opened only to be set, when some waiter made it (create = 0). NULL when none. */
HANDLE bt_win_release_event(const bt_win_id *id, int create);

/* A FILETIME (100 ns ticks from 1601) in seconds since the epoch. */
static inline double bt_win_epoch(const FILETIME *t) {
    ULARGE_INTEGER u = {.u = {t->dwLowDateTime, t->dwHighDateTime}};
    return (double)u.QuadPart / 1e7 - 11644473600.0;
}

/* Now, in seconds since the epoch. */
static inline double bt_win_wall_now(void) {
    FILETIME now;
    GetSystemTimeAsFileTime(&now);
    return bt_win_epoch(&now);
}

#endif
