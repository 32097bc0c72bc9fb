/* The read-only SQLite VFS of read/write lock connections (rw_vfs.h). */
#include "rw_vfs.h"

#include <sqlite3.h>
#include <stddef.h>

#define NAME "baton-lock"

/* The VFS whose locks every SQLite program on the system takes: POSIX record locks through
 * "unix", LockFileEx on the same bytes through "win32". */
#ifdef _WIN32
#define REAL_NAME "win32"
#else
#define REAL_NAME "unix"
#endif

/* A file opened through this VFS: SQLite's file object for it follows this header. */
typedef struct {
    sqlite3_file base;
    sqlite3_file *real;
} lock_file;

static sqlite3_vfs *real_vfs; /* set once, before the VFS is registered */
static sqlite3_vfs lock_vfs;

static sqlite3_file *real_of(sqlite3_file *f) { return ((lock_file *)f)->real; }

static int file_close(sqlite3_file *f) {
    sqlite3_file *r = real_of(f);
    return r->pMethods ? r->pMethods->xClose(r) : SQLITE_OK;
}

static int file_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 at) {
    sqlite3_file *r = real_of(f);
    return r->pMethods->xRead(r, buf, n, at);
}

/* A lock never writes: these fail as a disk that refuses them would. */
static int file_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 at) {
    (void)f;
    (void)buf;
    (void)n;
    (void)at;
    return SQLITE_IOERR_WRITE;
}

static int file_truncate(sqlite3_file *f, sqlite3_int64 size) {
    (void)f;
    (void)size;
    return SQLITE_IOERR_TRUNCATE;
}

/* Nothing was written, so there is nothing to make durable. */
static int file_sync(sqlite3_file *f, int flags) {
    (void)f;
    (void)flags;
    return SQLITE_OK;
}

static int file_size(sqlite3_file *f, sqlite3_int64 *size) {
    sqlite3_file *r = real_of(f);
    return r->pMethods->xFileSize(r, size);
}

static int file_lock(sqlite3_file *f, int level) {
    sqlite3_file *r = real_of(f);
    return r->pMethods->xLock(r, level);
}

static int file_unlock(sqlite3_file *f, int level) {
    sqlite3_file *r = real_of(f);
    return r->pMethods->xUnlock(r, level);
}

static int file_reserved(sqlite3_file *f, int *out) {
    sqlite3_file *r = real_of(f);
    return r->pMethods->xCheckReservedLock(r, out);
}

static int file_control(sqlite3_file *f, int op, void *arg) {
    /* A size hint may grow the file; a memory map is a second way in. Neither is needed. */
    if (op == SQLITE_FCNTL_SIZE_HINT)
        return SQLITE_OK;
    if (op == SQLITE_FCNTL_MMAP_SIZE)
        return SQLITE_NOTFOUND;
    sqlite3_file *r = real_of(f);
    return r->pMethods->xFileControl(r, op, arg);
}

static int file_sector(sqlite3_file *f) {
    sqlite3_file *r = real_of(f);
    return r->pMethods->xSectorSize(r);
}

static int file_device(sqlite3_file *f) {
    sqlite3_file *r = real_of(f);
    return r->pMethods->xDeviceCharacteristics(r);
}

/* Version 1: no shared memory, so no WAL index, and no memory-mapped pages. */
static const sqlite3_io_methods lock_methods = {
    1,           file_close,   file_read,  file_write,    file_truncate, file_sync,
    file_size,   file_lock,    file_unlock, file_reserved, file_control,  file_sector,
    file_device, NULL,         NULL,       NULL,          NULL,          NULL,
    NULL,
};

/* Only the database itself: never a journal, WAL, temporary or super-journal file, which
 * SQLite would create, write or delete beside it. The database is never created either
 * (the lock file is created by baton, with its own checks, before SQLite sees it). */
static int vfs_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags,
                    int *out_flags) {
    (void)vfs;
    lock_file *lf = (lock_file *)f;
    lf->base.pMethods = NULL;
    if (!name || !(flags & SQLITE_OPEN_MAIN_DB))
        return SQLITE_CANTOPEN;
    lf->real = (sqlite3_file *)(lf + 1);
    lf->real->pMethods = NULL;
    flags &= ~(SQLITE_OPEN_CREATE | SQLITE_OPEN_EXCLUSIVE | SQLITE_OPEN_DELETEONCLOSE);
    int rc = real_vfs->xOpen(real_vfs, name, lf->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        if (lf->real->pMethods)
            lf->real->pMethods->xClose(lf->real);
        return rc;
    }
    lf->base.pMethods = &lock_methods;
    return SQLITE_OK;
}

static int vfs_delete(sqlite3_vfs *vfs, const char *name, int sync_dir) {
    (void)vfs;
    (void)name;
    (void)sync_dir;
    return SQLITE_IOERR_DELETE;
}

/* SQLite asks only about the files it keeps beside a database (journal, WAL, super-journal):
 * there are none for a lock, whatever is on disk. */
static int vfs_access(sqlite3_vfs *vfs, const char *name, int flags, int *out) {
    (void)vfs;
    (void)name;
    (void)flags;
    *out = 0;
    return SQLITE_OK;
}

static int vfs_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out) {
    (void)vfs;
    return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static void *vfs_dlopen(sqlite3_vfs *vfs, const char *name) {
    (void)vfs;
    (void)name;
    return NULL; /* no extensions are loaded on a lock's connection */
}

static void vfs_dlerror(sqlite3_vfs *vfs, int n, char *msg) {
    (void)vfs;
    if (n > 0)
        sqlite3_snprintf(n, msg, "loading extensions is not supported");
}

static void (*vfs_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void) {
    (void)vfs;
    (void)h;
    (void)sym;
    return NULL;
}

static void vfs_dlclose(sqlite3_vfs *vfs, void *h) {
    (void)vfs;
    (void)h;
}

static int vfs_randomness(sqlite3_vfs *vfs, int n, char *out) {
    (void)vfs;
    return real_vfs->xRandomness(real_vfs, n, out);
}

static int vfs_sleep(sqlite3_vfs *vfs, int us) {
    (void)vfs;
    return real_vfs->xSleep(real_vfs, us);
}

static int vfs_current_time(sqlite3_vfs *vfs, double *t) {
    (void)vfs;
    return real_vfs->xCurrentTime(real_vfs, t);
}

static int vfs_last_error(sqlite3_vfs *vfs, int n, char *msg) {
    (void)vfs;
    return real_vfs->xGetLastError ? real_vfs->xGetLastError(real_vfs, n, msg) : 0;
}

static int vfs_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *t) {
    (void)vfs;
    if (real_vfs->iVersion >= 2 && real_vfs->xCurrentTimeInt64)
        return real_vfs->xCurrentTimeInt64(real_vfs, t);
    double d;
    int rc = real_vfs->xCurrentTime(real_vfs, &d);
    *t = (sqlite3_int64)(d * 86400000.0);
    return rc;
}

static int registered;

static int register_once(void) {
    /* The system's VFS by name: its locks are the ones filelock and the sqlite3 shell take,
     * whatever an application made the default. */
    sqlite3_vfs *real = sqlite3_vfs_find(REAL_NAME);
    if (!real)
        real = sqlite3_vfs_find(NULL);
    if (!real)
        return 0;
    real_vfs = real;
    lock_vfs.iVersion = 2;
    lock_vfs.szOsFile = (int)sizeof(lock_file) + real->szOsFile;
    lock_vfs.mxPathname = real->mxPathname;
    lock_vfs.zName = NAME;
    lock_vfs.xOpen = vfs_open;
    lock_vfs.xDelete = vfs_delete;
    lock_vfs.xAccess = vfs_access;
    lock_vfs.xFullPathname = vfs_full_pathname;
    lock_vfs.xDlOpen = vfs_dlopen;
    lock_vfs.xDlError = vfs_dlerror;
    lock_vfs.xDlSym = vfs_dlsym;
    lock_vfs.xDlClose = vfs_dlclose;
    lock_vfs.xRandomness = vfs_randomness;
    lock_vfs.xSleep = vfs_sleep;
    lock_vfs.xCurrentTime = vfs_current_time;
    lock_vfs.xGetLastError = vfs_last_error;
    lock_vfs.xCurrentTimeInt64 = vfs_current_time64;
    return sqlite3_vfs_register(&lock_vfs, 0) == SQLITE_OK;
}

const char *bt_rwvfs_name(void) {
    if (sqlite3_initialize() != SQLITE_OK)
        return NULL;
    sqlite3_mutex *m = sqlite3_mutex_alloc(SQLITE_MUTEX_STATIC_APP2);
    sqlite3_mutex_enter(m);
    if (!registered)
        registered = register_once();
    int ok = registered;
    sqlite3_mutex_leave(m);
    return ok ? NAME : NULL;
}
