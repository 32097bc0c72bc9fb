/* Who holds flock(2) locks on a file, as the kernel lists them in /proc/locks. The parser is
 * a pure function over the text, so it can be tested and fuzzed without a kernel. */
#ifndef BT_LOCKS_H
#define BT_LOCKS_H

#include <stddef.h>
#include <sys/types.h>

typedef struct bt_lock_holder {
    long pid;   /* the process that took the lock; 0 when the kernel does not say */
    int shared; /* LOCK_SH rather than LOCK_EX */
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

/* Read /proc/locks and list the flock holders of the file at `path` (not following a
 * symbolic link). Where stat() and the kernel's lock list disagree on the device number
 * (btrfs subvolumes, some overlay file systems), locks on the same inode number count when
 * /proc/PID/fd shows the holder has this very file open. Returns how many there are in all
 * (0 for a free or missing file), or -1 with errno set when /proc/locks cannot be read. */
long bt_locks_holders(const char *path, bt_lock_holder *out, size_t max);

#endif
