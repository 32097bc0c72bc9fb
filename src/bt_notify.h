/* inotify instances for waiters, kept in a small per-process pool: closing an instance can
 * take the kernel milliseconds (it waits for its marks to be torn down), far longer than a
 * hand-off should, while adding and removing watches on a kept instance costs microseconds. */
#ifndef BT_NOTIFY_H
#define BT_NOTIFY_H

/* An inotify descriptor with no pending events, or -1 (not Linux, or out of instances). */
int bt_notify_take(void);

/* Give back a descriptor from bt_notify_take whose watches have been removed. */
void bt_notify_give(int fd);

#endif
