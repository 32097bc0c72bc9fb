/* inotify instances for waiters, lent from a small per-process pool: closing an instance that
 * ever had a watch makes the kernel wait for the watch to be torn down (milliseconds), which
 * would land on every hand-off, while removing a watch from a kept instance takes microseconds. */
#ifndef BT_NOTIFY_H
#define BT_NOTIFY_H

/* An inotify descriptor with no pending events, or -1 (not Linux, or out of instances). */
int bt_notify_take(void);

/* Give back a descriptor from bt_notify_take after removing its watches. */
void bt_notify_give(int fd);

#endif
