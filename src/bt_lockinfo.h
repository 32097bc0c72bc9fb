/* Which processes hold flock(2) locks on a file, from the kernel's table (/proc/locks), so
 * that a waiter can say whom it waits for even when the holder records nothing itself. */
#ifndef BT_LOCKINFO_H
#define BT_LOCKINFO_H

#include <sys/types.h>

#include "bt_errors.h"

typedef struct bt_lockinfo {
    pid_t pid;  /* the process that took the lock (0 when the kernel cannot tell us) */
    int shared; /* LOCK_SH rather than LOCK_EX */
} bt_lockinfo;

/* Fill up to `max` entries for the flock locks held on the file at `path`; waiters are left
 * out. The number found (which may exceed max), or -1 with *err filled in (ENOENT when there
 * is no such file, ENOSYS where the table is not available). */
int bt_flock_holders(const char *path, bt_lockinfo *out, int max, bt_err *err);

#endif
