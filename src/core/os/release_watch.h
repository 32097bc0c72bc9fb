/* inotify instances for waiters, kept in a small per-process pool: closing an instance can
 * take the kernel milliseconds (it waits for its marks to be torn down), far longer than a
 * hand-off should, while adding and removing watches on a kept instance costs microseconds. */
#ifndef BT_NOTIFY_H
#define BT_NOTIFY_H

/* An inotify descriptor with no pending events, or -1 (not Linux, or out of instances). */
int bt_notify_take(void);

/* Give back a descriptor from bt_notify_take whose watches have been removed. */
void bt_notify_give(int fd);

#ifdef __linux__
#include <sys/inotify.h>
/* What a waiter watches a lock file for: a holder's close may end its lock; a rename, unlink
 * or link-count change means the path may now name another file, to be opened anew. */
#define BT_NOTIFY_EVENTS (IN_CLOSE_WRITE | IN_CLOSE_NOWRITE | IN_ATTRIB | IN_DELETE_SELF | \
                          IN_MOVE_SELF | IN_DONT_FOLLOW)
#define BT_NOTIFY_REPLACED (IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)
#endif

/* Wait up to `seconds` for events on `fd`, then read them all. Returns 0 when none came,
 * 1 when some did, 2 when one of them says a watched file was replaced or removed. */
int bt_notify_wait(int fd, double seconds);

#endif
