/* Read/write locks on an SQLite database file (rw_lock.h). */
#define _GNU_SOURCE
#include "rw_lock.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pid.h"
#include "rw_file.h"
#include "rw_vfs.h"
#include "os/os.h"

/* How often the lock file may be swapped under us before we give up one attempt. */
#define MAX_REOPENS 64

/* open_connection: the file left the path while we connected; try the one there now. */
#define RETRY 2

/* The statements of the protocol, prepared once per connection. */
enum { SQL_JOURNAL, SQL_BEGIN, SQL_READ, SQL_BEGIN_EXCLUSIVE, SQL_ROLLBACK, SQL_COUNT };
static const char *const SQL[SQL_COUNT] = {
    /* Rollback journal kept in memory: WAL would persist in the file and let readers in
     * beside a writer; an on-disk journal is never needed as nothing is written. */
    "PRAGMA journal_mode=MEMORY",
    "BEGIN",
    /* BEGIN alone stays deferred: SQLite takes the SHARED lock on the first read. */
    "SELECT name FROM sqlite_master LIMIT 1",
    "BEGIN EXCLUSIVE",
    "ROLLBACK",
};

struct bt_rw {
    sqlite3 *db;
    sqlite3_file *file;          /* SQLite's own handle on the file, for a waiting writer */
    sqlite3_stmt *stmt[SQL_COUNT];
    int configured;              /* journal mode set and statements prepared */
    int readonly;                /* the file could only be opened for reading */
    int probe;                   /* our descriptor on the file (see rw_file.h) */
    bt_rw_id id;                 /* the file the connection is on */
    pid_t owner;                 /* the process that opened the connection */
    int held;                    /* BT_RW_READ or BT_RW_WRITE while a transaction holds it */
    int vfs_lock;                /* SQLITE_LOCK_* a waiting writer holds outside a transaction */
    bt_watch watch;              /* while waiting: the file, for closes */
    int wd;
    mode_t mode;
    int make_parents;
    char msg[160];               /* SQLite's words for the last failure */
};

/* Header bytes 18 and 19 are the format versions, 2 in WAL mode. */
static int is_wal(int fd) {
    unsigned char h[20];
    long n = bt_rw_file_head(fd, h, sizeof h);
    return n == (long)sizeof h && memcmp(h, "SQLite format 3", 16) == 0 &&
           (h[18] == 2 || h[19] == 2);
}

#define WAL_REFUSED "an SQLite database in WAL mode, where readers cannot be kept out; " \
                    "give the lock a file of its own"

/* An SQLite result code as a failure with an errno name scripts can match on. */
static int sqlite_fail(bt_rw *l, bt_err *err, const char *op, int rc) {
    /* A file that became a WAL database after we connected: SQLite cannot open its WAL
     * through our VFS, and says only that it cannot open the database. */
    if ((rc & 0xff) == SQLITE_CANTOPEN && l->db && is_wal(l->probe))
        return bt_fail(err, "use", EINVAL, WAL_REFUSED);
    int code;
    switch (rc & 0xff) {
    case SQLITE_NOMEM: code = ENOMEM; break;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH: code = EACCES; break;
    case SQLITE_CANTOPEN: code = ENOENT; break;
    case SQLITE_FULL: code = ENOSPC; break;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
    case SQLITE_FORMAT: code = EINVAL; break;
    default: code = EIO; break;
    }
    int sys = 0;
    if ((rc & 0xff) == SQLITE_CANTOPEN && l->db && sqlite3_system_errno(l->db))
        code = sys = bt_rw_file_errno(sqlite3_system_errno(l->db));
    /* The connection's message when it describes this failure (it does for statements,
     * not for lock steps taken through the file handle). */
    const char *what = l->db && (sqlite3_errcode(l->db) & 0xff) == (rc & 0xff)
                           ? sqlite3_errmsg(l->db)
                           : sqlite3_errstr(rc);
    if (sys) /* "unable to open database file" alone does not say why */
        snprintf(l->msg, sizeof l->msg, "SQLite: %s (%s)", what, strerror(sys));
    else
        snprintf(l->msg, sizeof l->msg, "SQLite: %s", what);
    return bt_fail(err, op, code, l->msg);
}

bt_rw *bt_rw_new(mode_t mode, int make_parents) {
    bt_rw *l = calloc(1, sizeof *l);
    if (l) {
        l->mode = mode;
        l->make_parents = make_parents;
        bt_watch_init(&l->watch, &l->wd, 1);
    }
    return l;
}

/* SQLite's busy handler would sleep inside sqlite3_step, where a cooperative caller cannot
 * yield: every attempt here returns at once, and the caller decides how to wait. */
static int never_wait(void *arg, int count) {
    (void)arg;
    (void)count;
    return 0;
}

static void drop_vfs_lock(bt_rw *l) {
    if (l->vfs_lock != SQLITE_LOCK_NONE && l->file)
        l->file->pMethods->xUnlock(l->file, SQLITE_LOCK_NONE);
    l->vfs_lock = SQLITE_LOCK_NONE;
}

/* Let waiters in other processes know the file may be free (rw_file.h). */
static void ring(const bt_rw *l) { bt_rw_file_ring(l->probe, &l->id); }

/* A waiting writer gives up its place: readers queued behind its PENDING lock may go. */
static void give_up_waiting(bt_rw *l) {
    int was_pending = l->vfs_lock >= SQLITE_LOCK_PENDING;
    drop_vfs_lock(l);
    if (was_pending)
        ring(l);
}

static void close_connection(bt_rw *l) {
    if (!l->db)
        return;
    drop_vfs_lock(l);
    for (int i = 0; i < SQL_COUNT; i++) {
        sqlite3_finalize(l->stmt[i]);
        l->stmt[i] = NULL;
    }
    sqlite3_close_v2(l->db); /* rolls back, so whatever was held is released */
    bt_rw_file_put(l->probe, &l->id);
    l->db = NULL;
    l->file = NULL;
    l->configured = 0;
    l->held = 0;
}

/* 1 while the path still names the file the connection is on. */
static int still_at_path(const bt_rw *l, const char *path) { return bt_rw_file_at(path, &l->id); }

static int open_connection(bt_rw *l, const char *path, bt_err *err) {
    int fd, fresh;
    bt_rw_id id;
    if (bt_rw_file_get(path, l->mode, l->make_parents, &fd, &id, &fresh, err) != BT_OK)
        return BT_FAIL;
    if (fresh && is_wal(fd)) {
        bt_rw_file_put(fd, &id);
        return bt_fail(err, "use", EINVAL, WAL_REFUSED);
    }
    l->id = id;
    l->probe = fd;
    /* Connect through the vetted descriptor, so SQLite opens the same file and never a
     * symbolic link planted at the path; the path itself where the system has no name for
     * the descriptor (then SQLite's file is compared with it, where that can be told). */
    char name[48];
    const char *target = bt_rw_file_name(fd, path, name, sizeof name);
    /* Through a VFS that can neither see nor touch a journal, a WAL file or the file's
     * content: SQLite would otherwise play back or delete whatever journal it finds. */
    const char *vfs = bt_rwvfs_name();
    if (!vfs) {
        bt_rw_file_put(l->probe, &l->id);
        return bt_fail(err, "open", ENOSYS, "SQLite has no VFS to lock files with");
    }
    int rc = sqlite3_open_v2(target, &l->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, vfs);
    if (rc == SQLITE_OK)
        rc = sqlite3_busy_handler(l->db, never_wait, NULL);
    if (rc == SQLITE_OK &&
        sqlite3_file_control(l->db, "main", SQLITE_FCNTL_FILE_POINTER, &l->file) != SQLITE_OK)
        rc = SQLITE_CANTOPEN;
    if (rc == SQLITE_OK && (!l->file || !l->file->pMethods))
        rc = SQLITE_CANTOPEN;
    int other = rc == SQLITE_OK && !bt_rw_file_opened(l->file, fd); /* the path changed */
    if (rc != SQLITE_OK || other) {
        int r = other ? BT_FAIL : sqlite_fail(l, err, "open", rc);
        sqlite3_close_v2(l->db);
        l->db = NULL;
        l->file = NULL;
        bt_rw_file_put(l->probe, &l->id);
        /* SQLite opens the name the descriptor resolves to, which an unlink can take away. */
        return !other && still_at_path(l, path) ? r : RETRY;
    }
    l->readonly = sqlite3_db_readonly(l->db, "main") == 1;
    l->owner = bt_pid();
    l->configured = 0;
    return BT_OK;
}

/* Run a statement to its first row or its end, ready to run again. */
static int run(sqlite3_stmt *s) {
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc;
}

static int busy(int rc) { return (rc & 0xff) == SQLITE_BUSY; }

/* Prepare the statements and set the journal mode. Both read the schema, which takes a
 * SHARED lock for a moment, so this can be busy while a writer holds the file. */
static int configure(bt_rw *l, bt_err *err) {
    for (int i = 0; i < SQL_COUNT; i++) {
        if (l->stmt[i])
            continue;
        int rc = sqlite3_prepare_v3(l->db, SQL[i], -1, SQLITE_PREPARE_PERSISTENT, &l->stmt[i],
                                    NULL);
        if (busy(rc))
            return BT_BUSY;
        if (rc != SQLITE_OK)
            return sqlite_fail(l, err, "lock", rc);
    }
    sqlite3_stmt *s = l->stmt[SQL_JOURNAL];
    int rc = sqlite3_step(s);
    const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : NULL;
    int memory = mode && strcmp(mode, "memory") == 0;
    sqlite3_reset(s);
    if (busy(rc))
        return BT_BUSY;
    if (rc != SQLITE_ROW)
        return sqlite_fail(l, err, "lock", rc);
    if (!memory)
        return bt_fail(err, "use", EINVAL, "an SQLite database that keeps its journal mode");
    l->configured = 1;
    return BT_OK;
}

/* End the transaction; a connection that cannot roll back is closed, which releases. */
static void end_transaction(bt_rw *l) {
    if (l->db && !sqlite3_get_autocommit(l->db) && run(l->stmt[SQL_ROLLBACK]) != SQLITE_DONE)
        close_connection(l);
}

/* 1 when another holder has PENDING (a writer waits) where SQLite would not look: it lets a
 * reader in without looking when another connection of this process already reads, which
 * would let the readers of one process starve a writer elsewhere (rw_file.h). */
static int writer_waiting(const bt_rw *l) { return bt_rw_file_pending(l->probe); }

static int try_read(bt_rw *l, bt_err *err) {
    if (writer_waiting(l))
        return BT_BUSY;
    int rc = run(l->stmt[SQL_BEGIN]);
    if (rc == SQLITE_DONE)
        rc = run(l->stmt[SQL_READ]);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        l->held = BT_RW_READ;
        return BT_OK;
    }
    end_transaction(l);
    return busy(rc) ? BT_BUSY : sqlite_fail(l, err, "lock", rc);
}

/* A failed lock step through the VFS. */
static int vfs_fail(bt_rw *l, bt_err *err, int rc) {
    if (busy(rc))
        return BT_BUSY;
    drop_vfs_lock(l);
    return sqlite_fail(l, err, "lock", rc);
}

/* Climb SQLite's lock levels through its own file handle, as its pager does for BEGIN
 * EXCLUSIVE, but one step per attempt: a failed EXCLUSIVE step leaves PENDING in place,
 * which keeps new readers out while the present ones finish. (A failed BEGIN EXCLUSIVE
 * would drop every lock on return, and the next attempt would queue behind new readers.)
 * Once EXCLUSIVE is ours, BEGIN EXCLUSIVE finds it held and takes it over. */
static int try_write(bt_rw *l, bt_err *err) {
    if (l->readonly)
        return bt_fail(err, "lock", EACCES, "a write lock needs write access to the file");
    sqlite3_file *f = l->file;
    int rc;
    if (l->vfs_lock < SQLITE_LOCK_SHARED) {
        rc = f->pMethods->xLock(f, SQLITE_LOCK_SHARED);
        if (rc != SQLITE_OK)
            return vfs_fail(l, err, rc); /* a writer holds PENDING or more */
        l->vfs_lock = SQLITE_LOCK_SHARED;
    }
    if (l->vfs_lock < SQLITE_LOCK_RESERVED) {
        rc = f->pMethods->xLock(f, SQLITE_LOCK_RESERVED);
        if (rc != SQLITE_OK) {
            /* Another writer is ahead of us and waits for every SHARED lock to go: never
             * wait holding ours. */
            drop_vfs_lock(l);
            return vfs_fail(l, err, rc);
        }
        l->vfs_lock = SQLITE_LOCK_RESERVED;
    }
    rc = f->pMethods->xLock(f, SQLITE_LOCK_EXCLUSIVE);
    if (rc != SQLITE_OK) {
        if (busy(rc))
            l->vfs_lock = SQLITE_LOCK_PENDING; /* readers remain; PENDING is ours */
        return vfs_fail(l, err, rc);
    }
    l->vfs_lock = SQLITE_LOCK_EXCLUSIVE;
    rc = run(l->stmt[SQL_BEGIN_EXCLUSIVE]);
    if (rc != SQLITE_DONE) {
        end_transaction(l);
        drop_vfs_lock(l);
        return busy(rc) ? BT_BUSY : sqlite_fail(l, err, "lock", rc);
    }
    l->vfs_lock = SQLITE_LOCK_NONE; /* the transaction owns the lock and releases it */
    l->held = BT_RW_WRITE;
    return BT_OK;
}

static int try_once(bt_rw *l, const char *path, int how, bt_err *err) {
    if (l->held && l->owner == bt_pid()) {
        if (l->held == how)
            return BT_OK;
        return bt_fail(err, "lock", EDEADLK, "this object already holds the other mode");
    }
    if (l->db && l->owner != bt_pid())
        close_connection(l); /* inherited through fork(): start afresh */
    if (how != BT_RW_WRITE)
        drop_vfs_lock(l);
    for (int i = 0; i < MAX_REOPENS; i++) {
        if (!l->db) {
            int r = open_connection(l, path, err);
            if (r == RETRY)
                continue;
            if (r != BT_OK)
                return BT_FAIL;
        }
        int r = l->configured ? BT_OK : configure(l, err);
        if (r == BT_OK)
            r = how == BT_RW_WRITE ? try_write(l, err) : try_read(l, err);
        if (r == BT_FAIL)
            return r;
        if (bt_rw_file_stays() || still_at_path(l, path))
            return r;
        /* The file was unlinked or replaced: its lock no longer means anything. */
        close_connection(l);
    }
    close_connection(l);
    return bt_fail(err, "lock", EAGAIN, "the lock file keeps being replaced");
}

int bt_rw_try(bt_rw *l, const char *path, int how, bt_err *err) {
    int r = try_once(l, path, how, err);
    if (r != BT_BUSY)
        bt_watch_stop(&l->watch); /* done waiting: drop the watch */
    return r;
}

int bt_rw_wait(bt_rw *l, const char *path, double seconds) {
    int woke = bt_watch_wait(&l->watch, &path, 0, NULL, seconds);
    return woke == BT_WOKE_EVENT || woke == BT_WOKE_REPLACED;
}

void bt_rw_abandon(bt_rw *l) {
    bt_watch_stop(&l->watch);
    if (l->db && l->owner == bt_pid())
        give_up_waiting(l);
}

int bt_rw_identity(const bt_rw *l, unsigned long long *dev, unsigned long long *ino) {
    if (!l->db || l->owner != bt_pid())
        return 0;
    *dev = l->id.dev;
    *ino = l->id.ino;
    return 1;
}

int bt_rw_held(const bt_rw *l) { return l->db && l->owner == bt_pid() ? l->held : 0; }

void bt_rw_release(bt_rw *l) {
    if (!l->db)
        return;
    if (l->owner != bt_pid()) {
        /* A forked child holds none of the parent's record locks, and unlocking or closing
         * here cannot touch them: they belong to the parent process. */
        close_connection(l);
        return;
    }
    bt_watch_stop(&l->watch);
    give_up_waiting(l);
    if (l->held) {
        /* Readers may wait behind a writer unseen; a writer waiting for readers shows. */
        int wake = l->held == BT_RW_WRITE || writer_waiting(l);
        l->held = 0;
        end_transaction(l);
        if (wake && l->db)
            ring(l);
    }
}

void bt_rw_close(bt_rw *l) {
    bt_watch_stop(&l->watch);
    close_connection(l);
}

void bt_rw_free(bt_rw *l) {
    if (!l)
        return;
    bt_rw_close(l);
    free(l);
}
