/* What every platform's `baton lock` without Lua shares (fastlock_line.c): the command line
 * it takes, and the wait for the flock lock. */
#ifndef BT_FASTLOCK_LINE_H
#define BT_FASTLOCK_LINE_H

#include "../core/errors.h"
#include "../core/flock_lock.h"

typedef struct bt_fast_line {
    int shared, nonblock, conflict;
    double timeout;            /* < 0: none */
    const char *file;
    const char *shell_command; /* -c's command, or NULL */
    char **command;            /* else the command and its arguments, in the caller's argv */
    int ncommand;
} bt_fast_line;

/* Read `baton lock ARGS` (argv[1] is "lock"): 1 when it is a line of -s, -x, -e, -n, -w,
 * -E (short or long), FILE and a command or -c 'command'; 0 for anything else, left to
 * lua/baton/cli.lua. */
int bt_fast_parse(bt_fast_line *f, int argc, char **argv);

/* Take the lock as -n / -w / neither say: BT_OK, BT_BUSY (gave up) or BT_FAIL with *err; a
 * signal noted meanwhile (signals.h) is BT_FAIL with *sig set. */
int bt_fast_take(bt_flock *l, const bt_fast_line *f, int *sig, bt_err *err);

#endif
