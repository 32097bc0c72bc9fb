/* `baton lock` without Lua, for the command lines flock(1) scripts use most (fastlock.c). */
#ifndef BT_FASTLOCK_H
#define BT_FASTLOCK_H

/* Take the lock and run the command for `baton lock ARGS` (argv[1] is "lock") when the
 * command line is one this path knows and nothing goes wrong: 1 with *status set. 0 when
 * the Lua command must handle it (other options, a mistake to explain, a failure to report),
 * with nothing held and nothing started. Signal handlers must be installed (interrupt.h). */
int bt_fast_lock(int argc, char **argv, int *status);

#endif
