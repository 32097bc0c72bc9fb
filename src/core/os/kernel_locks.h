/* Who holds flock(2) locks on a file, as the kernel lists them in /proc/locks. The parser is
 * a pure function over the text, so it can be tested and fuzzed without a kernel. */
#ifndef BT_LOCKS_H
#define BT_LOCKS_H

#include <stddef.h>
#include <sys/types.h>

/* The kinds of lock bt_locks_find looks for, as bits. */
#define BT_LOCK_FLOCK 1 /* flock(2): "FLOCK" lines */
#define BT_LOCK_POSIX 2 /* fcntl(2) record locks: "POSIX" and "OFDLCK" lines (SQLite's) */

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
} bt_lock_holder;

/* Matches any device in bt_locks_parse. */
#define BT_ANY_DEVICE ((unsigned long)-1)

/* The FLOCK locks granted on the file with device major:minor and inode `ino`, in the
 * order listed, one entry per pid (a process holding it through several descriptors is
 * listed once). With major BT_ANY_DEVICE, the inode number alone is matched. Lines for
 * blocked waiters ("->") and other kinds of lock are skipped. Fills at most `max` entries
 * and returns how many there are in all. */
size_t bt_locks_parse(const char *buf, size_t len, unsigned long major, unsigned long minor,
                      unsigned long long ino, bt_lock_holder *out, size_t max);

/* As bt_locks_parse, for the kinds of lock in `kinds` (BT_LOCK_* bits): one entry per kind
 * and pid, a record-lock holder's ranges merged into one entry. */
size_t bt_locks_parse_kinds(const char *buf, size_t len, unsigned long major,
                            unsigned long minor, unsigned long long ino, int kinds,
                            bt_lock_holder *out, size_t max);

/* The SQLite lock a record-lock holder holds, told from its bytes: "exclusive", "pending",
 * "reserved", "shared", or NULL when it holds none of SQLite's lock bytes. */
const char *bt_locks_sqlite_state(unsigned bytes);

/* Read /proc/locks and list the holders of the kinds in `kinds` on the file at `path`,
 * which may be any kind of file but a symbolic link (never followed; nothing is opened).
 * Otherwise as bt_locks_holders. */
long bt_locks_find(const char *path, int kinds, bt_lock_holder *out, size_t max);

/* Read /proc/locks and list the flock holders of the file at `path` (not following a
 * symbolic link; a directory counts, as flock(1) locks them). Where stat() and the kernel's lock list disagree on the device number
 * (btrfs subvolumes, some overlay file systems), locks on the same inode number count when
 * /proc/PID/fd shows the holder has this very file open. Returns how many there are in all
 * (0 for a free or missing file), or -1 with errno set when /proc/locks cannot be read. */
long bt_locks_holders(const char *path, bt_lock_holder *out, size_t max);

#endif
