/* The platform seam: what the core needs from the system that differs between Linux, other
 * POSIX systems and Windows. One file per platform implements all of it: linux.c (inotify,
 * /proc, openat2, pidfd) and posix.c (macOS, the BSDs, and any POSIX system: backed-off
 * waits, kqueue where it exists, holders from baton's own records); the Makefile picks one
 * (PLATFORM=linux|posix), without a change to the core. Nothing here names a platform's
 * types; every function has a meaning a platform without the facility can honour (a watch
 * that cannot be armed, a token that cannot be told, a lookup that finds nobody). */
#ifndef BT_OS_H
#define BT_OS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Windows (os/windows.c, mingw-w64) has no user ids: uid_t only keeps the declarations below
 * whole; no call there takes one. */
#ifdef _WIN32
typedef unsigned uid_t;
#endif

/* 1 in the Linux backend's build, the only place where the core may use Linux's own
 * facilities (prctl, O_PATH, openat2); the portable build (BT_OS_PORTABLE, set by
 * `make PLATFORM=posix`) turns them off on Linux too, so that the portable paths run here. */
#if defined(__linux__) && !defined(BT_OS_PORTABLE)
#define BT_OS_LINUX 1
#else
#define BT_OS_LINUX 0
#endif

/* Flags that open a folder only to resolve names relative to it: O_PATH on Linux (no read
 * permission needed), a plain read-only open elsewhere. */
#if BT_OS_LINUX
#define BT_O_DIRPATH O_PATH
#else
#define BT_O_DIRPATH O_RDONLY
#endif

/* ---- calls whose form differs ------------------------------------------------------------ */

/* A pipe whose ends are both close-on-exec. 0, or -1 with errno. */
int bt_os_pipe(int fds[2]);

/* The process's environment variable (environ), to read it or to set it in a child. */
char ***bt_os_environ(void);

/* Allocate every block of the first `size` bytes of the file (so that a mapping of it never
 * faults for want of space). 0, or an errno value. */
int bt_os_reserve(int fd, off_t size);

/* Keep a forked child from inheriting the mapping. 0, or -1 where the system cannot. */
int bt_os_dontfork(void *map, size_t len);

/* The file's modification time, in seconds since the epoch. */
double bt_os_mtime(const struct stat *st);

/* A descriptor readable once child `pid` ends, or -1 where the system has none. */
int bt_os_pidfd(pid_t pid);

/* Have the system send `sig` to this process when its parent dies, however it dies (Linux's
 * PR_SET_PDEATHSIG). 0, or -1 with errno ENOSYS where the system cannot: spawn.c then has
 * the child watch a pipe whose write end only the parent holds. */
int bt_os_parent_death(int sig);

/* open(2) that fails with ELOOP when any component of the path is a symbolic link; -1 with
 * errno ENOSYS where the system cannot tell. */
int bt_os_open_nolinks(const char *path, int flags, mode_t mode);

/* An unnamed file in the folder `dir`, open for writing, or -1 with errno (EOPNOTSUPP where
 * the system or file system cannot make one); bt_os_link_fd gives it the name `name`
 * there, failing with EEXIST as O_EXCL would. */
int bt_os_tmpfile(int dir, mode_t mode);
int bt_os_link_fd(int fd, int dir, const char *name);

/* A name that opens the file of descriptor `fd` (whatever its path names now) into buf, or
 * 0 when the system has no such name. */
size_t bt_os_fd_name(int fd, char *buf, size_t cap);

/* A lock of type F_RDLCK, F_WRLCK or F_UNLCK on bytes [start, start + len) of the file (len 0:
 * to its end) owned by the open file description, as flock(2)'s are (Linux's OFD locks), and
 * waiting for it when `block`. 0, or -1 with errno (ENOTSUP where the system has no such
 * locks: process-owned fcntl(2) locks would be dropped by any close of the file here). */
int bt_os_range_lock(int fd, int type, off_t start, off_t len, int block);

/* What the holder lookup can know here, as BT_KNOWS_* bits (baton.holder says the rest is
 * unknown). */
#define BT_KNOWS_LOCK_TABLE 1 /* the kernel's table of locks: every program's holders */
#define BT_KNOWS_OPENERS 2    /* which processes have a file open */
#define BT_KNOWS_CMDLINE 4    /* a process's command line */
#define BT_KNOWS_STARTED 8    /* when a process started, and its start token */
int bt_os_knows(void);

/* poll(2) for up to `seconds` (negative: without end), to the nanosecond where the system
 * can (ppoll), else to the millisecond, rounded up. */
struct pollfd;
int bt_os_poll(struct pollfd *fds, unsigned n, double seconds);

/* The platform's name: "linux", "macos", "freebsd", "posix". */
const char *bt_os_name(void);

/* ---- release watch: wake a waiter when a lock may have become free ------------------- */

typedef struct bt_watch {
    int fd;      /* what an event loop polls while armed (an inotify instance), else -1 */
    pid_t owner; /* the process that armed it: a forked child holds only a copy */
    int folder;  /* watching a folder for an entry leaving it, not the files themselves */
    int n;       /* number of paths */
    int *wd;     /* one watch per path (the caller's storage for n ints), -1 when none */
} bt_watch;

/* What a wait saw. */
enum {
    BT_WOKE_NOTHING = 0,  /* the time ran out (or nothing can be watched: it slept) */
    BT_WOKE_EVENT = 1,    /* a watched file was closed, or the entry left the folder */
    BT_WOKE_REPLACED = 2, /* a watched file (or the folder) was replaced or removed */
    BT_WOKE_ARMED = 3     /* the first call: the watch was only set, at once */
};

/* Not watching yet; `wds` holds n ints and lives as long as the watch. Inline: every new
 * lock object starts one. */
static inline void bt_watch_init(bt_watch *w, int *wds, int n) {
    w->fd = -1;
    w->owner = 0;
    w->folder = 0;
    w->n = n;
    w->wd = wds;
    for (int i = 0; i < n; i++)
        wds[i] = -1;
}

/* Wait up to `seconds` for a sign of a release: a descriptor on one of the files at
 * paths[0..n-1] closed, or one replaced or removed; with `folder`, n is 1, paths[0] a folder,
 * and the sign is the entry named `entry` leaving it. The first call only sets the watch and
 * returns BT_WOKE_ARMED at once, so the caller's next attempt closes the race with a release
 * that came before it. Where nothing can be watched it sleeps. After BT_WOKE_REPLACED the
 * watch follows what is at the paths now. A watch inherited through fork() is dropped and
 * set anew in the child. */
int bt_watch_wait(bt_watch *w, const char *const *paths, int folder, const char *entry,
                  double seconds);

/* Point watch i at what is now at `path` (a lock file opened anew). 0 when the watch is no
 * longer armed (nothing left to watch, or never armed). */
int bt_watch_retarget(bt_watch *w, int i, const char *path);

/* The descriptor an event loop can poll for readability while armed, or -1. */
int bt_watch_fd(const bt_watch *w);

/* Stop watching, keeping the platform's instance for the next watch. Idempotent. */
void bt_watch_stop(bt_watch *w);

/* Stop watching and give the instance back to the system (descriptors are short). */
void bt_watch_close(bt_watch *w);

/* ---- process identity: tell a live process from a recycled pid ------------------------- */

/* Room for the decimal digits of a 192-bit number (at most 58) and a NUL. */
#define BT_TOKEN_LEN 64

/* This boot's id, read once. Returns 0, or -1 when the system does not tell. */
int bt_boot_id(uint32_t out[4]);

/* The start token of process `pid` into out (on Linux (boot << 64) | starttime, the number
 * Python's filelock writes); returns its length, or 0 when it cannot be told (no such
 * process, or no boot id). *dead is set to 1 when the process has exited but is not yet
 * reaped (a zombie), also when the token cannot be had. */
size_t bt_proc_token(pid_t pid, char out[BT_TOKEN_LEN], int *dead);

/* 1 when process `pid` exists, as far as this process may look, with *zombie set to 1 when
 * it has exited but is not yet reaped; else 0. */
int bt_proc_exists(pid_t pid, int *zombie);

/* The command line of `pid` with its arguments joined by spaces, NUL-terminated in buf.
 * Returns its length, or 0 when it cannot be read (gone, a kernel thread, no access). */
size_t bt_proc_cmdline(pid_t pid, char *buf, size_t cap);

/* When `pid` started, in seconds since the epoch; negative when the system does not tell. */
double bt_proc_started(pid_t pid);

/* The owner of `pid` (its effective uid). Returns 0, or -1. */
int bt_proc_uid(pid_t pid, uid_t *uid);

/* 1 when `uid` is one of the user ids of process `pid` (real, effective, saved, file
 * system); 0 when not, or when the system does not tell. */
int bt_proc_has_uid(pid_t pid, uid_t uid);

/* ---- holder lookup: who holds a lock on a file, who has it open -------------------------- */

/* The kinds of lock bt_locks_find looks for, as bits. */
#define BT_LOCK_FLOCK 1 /* flock(2) */
#define BT_LOCK_POSIX 2 /* fcntl(2) record locks, private or open-file-description (SQLite's) */

/* The bytes of the file a record-lock holder has locked, as bits: SQLite's lock bytes (at
 * its default offsets: PENDING 0x40000000, RESERVED 0x40000001, SHARED 0x40000002 and the
 * 510 bytes after it) and any others. */
#define BT_BYTES_PENDING_READ 0x01
#define BT_BYTES_PENDING_WRITE 0x02
#define BT_BYTES_RESERVED_READ 0x04
#define BT_BYTES_RESERVED_WRITE 0x08
#define BT_BYTES_SHARED_READ 0x10
#define BT_BYTES_SHARED_WRITE 0x20
#define BT_BYTES_OTHER_READ 0x40
#define BT_BYTES_OTHER_WRITE 0x80
#define BT_BYTES_WRITE                                                                         \
    (BT_BYTES_PENDING_WRITE | BT_BYTES_RESERVED_WRITE | BT_BYTES_SHARED_WRITE |               \
     BT_BYTES_OTHER_WRITE)

typedef struct bt_lock_holder {
    long pid;     /* the process that took the lock; 0 when the kernel does not say */
    int shared;   /* LOCK_SH rather than LOCK_EX; for record locks: every range read-locked */
    int kind;     /* BT_LOCK_FLOCK or BT_LOCK_POSIX */
    unsigned bytes; /* record locks: BT_BYTES_* of the ranges held; 0 for flock */
    int ofd;        /* record locks: an open file description lock (OFDLCK), not POSIX's */
    unsigned long long first, last; /* the bytes locked, first to last (~0: to the end) */
} bt_lock_holder;

/* The holders of the kinds in `kinds` on the file at `path`, which may be any kind of file
 * but a symbolic link (never followed; nothing is opened at the path). Fills at most `max`
 * entries and returns how many there are in all (0 for a free or missing file), or -1 with
 * errno set when the system's lock table cannot be read. On Linux, where stat() and
 * /proc/locks disagree on the device number (btrfs subvolumes, some overlay file systems),
 * locks on the same inode number count when /proc/PID/fd shows the holder has this file. */
long bt_locks_find(const char *path, int kinds, bt_lock_holder *out, size_t max);

/* As bt_locks_find for flock holders only (a directory counts, as flock(1) locks them). */
long bt_locks_holders(const char *path, bt_lock_holder *out, size_t max);

/* The SQLite lock a record-lock holder holds, told from its bytes: "exclusive", "pending",
 * "reserved", "shared", or NULL when it holds none of SQLite's lock bytes. */
const char *bt_locks_sqlite_state(unsigned bytes);

/* Processes other than this one, owned by `uid` (or any owner when uid is (uid_t)-1), that
 * have the file dev/ino open: a marker that names no owner (filelock 3.9 leaves it empty)
 * is still held while its creator keeps it open. Only processes whose descriptors this
 * process may read are seen (its own user's, or all of them for root). Fills at most `max`
 * pids and returns how many were found in all, or -1 with errno set. */
long bt_openers(dev_t dev, ino_t ino, uid_t uid, pid_t *pids, size_t max);

/* As bt_openers, counting only processes that have the file open for writing only, as
 * filelock 3.9's SoftFileLock keeps its empty marker (lock files for flock and SQLite are
 * open for reading, or reading and writing). */
long bt_writers(dev_t dev, ino_t ino, uid_t uid, pid_t *pids, size_t max);

/* 1 when process `pid` has the file dev/ino open (as far as this process may look). */
int bt_has_open(pid_t pid, dev_t dev, ino_t ino);

#endif
