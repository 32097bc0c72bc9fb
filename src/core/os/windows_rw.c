/* The lock files of read/write locks on Windows (rw_file.h). SQLite's win32 VFS takes its
 * locks with LockFileEx on the same bytes as everywhere (PENDING 0x40000000, RESERVED, the
 * SHARED range after it), and such a lock belongs to the file handle: closing another
 * handle on the file drops nothing, so each connection keeps a descriptor of its own here,
 * opened to vet the file before SQLite opens it by its path (SQLite takes UTF-8 names).
 *
 * The descriptor is opened with read access only (creating a missing file needs no more),
 * share modes that never keep a peer from opening, renaming or deleting the file, without
 * following a symbolic link or other reparse point at the path, and is inherited by no
 * child process. */
#include "windows.h"

#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <stdint.h>
#include <stdlib.h>

#include "../rw_file.h"

static HANDLE handle_of(int fd) { return (HANDLE)_get_osfhandle(fd); }

static void id_of(const bt_win_id *w, bt_rw_id *id) {
    id->dev = w->volume;
    id->ino = ((unsigned long long)w->high << 32) | w->low;
}

/* The file at w, opened or made; a link at the path is opened itself, never followed. */
static HANDLE open_probe(wchar_t *w, int make_parents, DWORD *e) {
    const DWORD flags = FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT;
    HANDLE h = CreateFileW(w, GENERIC_READ, BT_WIN_SHARE_ALL, NULL, OPEN_ALWAYS, flags, NULL);
    *e = h == INVALID_HANDLE_VALUE ? GetLastError() : 0;
    if (h == INVALID_HANDLE_VALUE && *e == ERROR_PATH_NOT_FOUND && make_parents &&
        !bt_win_make_parents(w)) {
        h = CreateFileW(w, GENERIC_READ, BT_WIN_SHARE_ALL, NULL, OPEN_ALWAYS, flags, NULL);
        *e = h == INVALID_HANDLE_VALUE ? GetLastError() : 0;
    }
    return h;
}

/* Why the file at w could not be opened: a folder is refused as on POSIX (a plain open of
 * one is "access denied" here). */
static int open_failed(const wchar_t *w, DWORD e, bt_err *err) {
    DWORD attrs = GetFileAttributesW(w);
    if (e == ERROR_ACCESS_DENIED && attrs != INVALID_FILE_ATTRIBUTES &&
        (attrs & FILE_ATTRIBUTE_DIRECTORY))
        return bt_fail(err, "open", EISDIR, NULL);
    return bt_win_fail(err, "open", e);
}

/* A symbolic link, junction or other reparse point, a folder, a device: not a lock file. */
static int vet(HANDLE h, bt_win_id *wid, bt_err *err) {
    BY_HANDLE_FILE_INFORMATION info;
    if (GetFileType(h) != FILE_TYPE_DISK)
        return bt_fail(err, "use", EINVAL, "not a regular file");
    if (!GetFileInformationByHandle(h, &info))
        return bt_win_fail(err, "stat", GetLastError());
    if (info.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT)
        return bt_fail(err, "use", ELOOP, "it is a symbolic link");
    if (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)
        return bt_fail(err, "open", EISDIR, NULL);
    wid->volume = info.dwVolumeSerialNumber;
    wid->high = info.nFileIndexHigh;
    wid->low = info.nFileIndexLow;
    return BT_OK;
}

int bt_rw_file_get(const char *path, mode_t mode, int make_parents, int *fd, bt_rw_id *id,
                   int *fresh, bt_err *err) {
    (void)mode; /* Windows has no permission bits to give a file */
    DWORD e;
    wchar_t *w = bt_win_wide(path, &e);
    if (!w)
        return bt_win_fail(err, "open", e);
    HANDLE h = open_probe(w, make_parents, &e);
    int rc = h == INVALID_HANDLE_VALUE ? open_failed(w, e, err) : BT_OK;
    free(w);
    if (rc != BT_OK)
        return rc;
    bt_win_id wid = {0, 0, 0};
    if (vet(h, &wid, err) != BT_OK) {
        CloseHandle(h);
        return BT_FAIL;
    }
    int d = _open_osfhandle((intptr_t)h, _O_RDONLY);
    if (d < 0) {
        CloseHandle(h);
        return bt_fail(err, "open", EMFILE, NULL);
    }
    id_of(&wid, id);
    *fd = d;
    *fresh = 1; /* each connection has its own descriptor */
    return BT_OK;
}

/* SQLite opens the path: there is no name for a handle that SQLite could open. */
const char *bt_rw_file_name(int fd, const char *path, char *buf, size_t cap) {
    (void)fd;
    (void)buf;
    (void)cap;
    return path;
}

/* SQLite's own handle on the file, compared with the vetted one: a file put at the path in
 * between (or a link there) is not the file that was vetted. */
int bt_rw_file_opened(sqlite3_file *f, int fd) {
    HANDLE theirs = INVALID_HANDLE_VALUE;
    if (f->pMethods->xFileControl(f, SQLITE_FCNTL_WIN32_GET_HANDLE, &theirs) != SQLITE_OK)
        return 1; /* cannot tell: the path is checked after every attempt */
    bt_win_id a, b;
    return bt_win_id_of(theirs, &a) == 0 && bt_win_id_of(handle_of(fd), &b) == 0 &&
           bt_win_same_id(&a, &b);
}

int bt_rw_file_at(const char *path, const bt_rw_id *id) {
    bt_win_id wid;
    bt_rw_id now;
    if (!bt_win_id_at(path, &wid))
        return 0; /* gone, or pending deletion */
    id_of(&wid, &now);
    return now.dev == id->dev && now.ino == id->ino;
}

/* SQLite's win32 VFS opens the file without FILE_SHARE_DELETE: while its handle is open, no
 * handle that could delete or rename the file can be had (nor one be open already: SQLite's
 * open would have failed), and the file opened at the path (bt_rw_file_opened) stays there. */
int bt_rw_file_stays(void) { return 1; }

long bt_rw_file_head(int fd, unsigned char *buf, size_t n) {
    OVERLAPPED ov = {0}; /* from offset 0 */
    DWORD got = 0;
    if (n > 4096)
        n = 4096;
    if (!ReadFile(handle_of(fd), buf, (DWORD)n, &got, &ov))
        return GetLastError() == ERROR_HANDLE_EOF ? 0 : -1;
    return (long)got;
}

/* SQLite's win32 VFS locks the PENDING byte on every way to SHARED, for each connection:
 * a writer waiting keeps every new reader out, of this process too, without a look here. */
int bt_rw_file_pending(int fd) {
    (void)fd;
    return 0;
}

/* Windows tells no waiter of a close: waiters back off between attempts instead. */
void bt_rw_file_ring(int fd, const bt_rw_id *id) {
    (void)fd;
    (void)id;
}

/* SQLite's system error here is GetLastError's. */
int bt_rw_file_errno(int sys) { return bt_win_errno((DWORD)sys); }

void bt_rw_file_put(int fd, const bt_rw_id *id) {
    (void)id;
    _close(fd); /* closes the handle too */
}
