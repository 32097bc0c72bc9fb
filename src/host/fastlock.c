/* `baton lock` without Lua (fastlock.h): flock(1)'s common command lines, taken the same way
 * lua/baton/cli.lua takes them (the C core's flock lock, its holder record, the command
 * spawned with the lock's descriptor and killed if baton dies). Anything else, and every
 * failure but contention, is left to cli.lua, which explains it. */
#define _POSIX_C_SOURCE 200809L
#include "fastlock.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/child_io.h"
#include "../core/clock.h"
#include "../core/flock_lock.h"
#include "../core/holder_records.h"
#include "../core/signals.h"
#include "../core/spawn.h"
#include "fastlock_line.h"
#include "interrupt.h"

#define MAX_ARGV 256
#define FIRST_PAUSE 0.0005 /* the first pause between looks at a child without a pidfd */
#define CHILD_PAUSE 0.05 /* the longest wait for the command between looks at the signal flag */

typedef struct {
    bt_fast_line line;
    char *argv[MAX_ARGV + 1];
} fast_line;

/* The whole command line, or 0. */
static int parse(fast_line *f, int argc, char **argv) {
    memset(f, 0, sizeof *f);
    if (!bt_fast_parse(&f->line, argc, argv))
        return 0;
    if (f->line.shell_command) {
        const char *shell = getenv("SHELL");
        f->argv[0] = (char *)(shell && *shell ? shell : "/bin/sh");
        f->argv[1] = (char *)"-c";
        f->argv[2] = (char *)f->line.shell_command;
        return 1;
    }
    if (f->line.ncommand > MAX_ARGV)
        return 0;
    for (int k = 0; k < f->line.ncommand; k++)
        f->argv[k] = f->line.command[k];
    struct stat st; /* a folder is locked through a descriptor: cli.lua does it */
    return !(lstat(f->line.file, &st) == 0 && S_ISDIR(st.st_mode));
}

/* An interruption: what the command started is stopped first, as cli.lua does. */
static int interrupted(int sig) {
    bt_children_stop(BT_STOP_GRACE);
    fprintf(stderr, "baton: interrupted by %s\n", bt_signal_name(sig));
    fflush(stderr);
    return 128 + sig;
}

/* Wait for the command: its status, or -1 with *sig set when a signal came first. The flag
 * is looked at before every wait, and no wait lasts longer than CHILD_PAUSE: a signal that
 * lands between the look and the wait is seen that much later at most. Without a descriptor
 * for the child (no pidfd) the pauses back off from FIRST_PAUSE. */
static int wait_child(bt_child *c, int *sig) {
    int code, signo;
    double pause = FIRST_PAUSE;
    for (;;) {
        if ((*sig = bt_signal_caught()) != 0)
            return -1;
        int done = bt_child_poll(c, &code, &signo);
        if (done == 1)
            return code;
        if (done < 0)
            return -1;
        struct pollfd p = {bt_child_pollfd(c), POLLIN, 0};
        if (p.fd >= 0) {
            bt_poll(&p, 1, CHILD_PAUSE);
        } else {
            bt_sleep(pause);
            pause = pause * 2 < CHILD_PAUSE ? pause * 2 : CHILD_PAUSE;
        }
    }
}

/* The command could not be started: say why as cli.lua does, with its status (71 when the
 * system is short of something, 69 otherwise). */
static int not_started(const fast_line *f, const bt_err *err) {
    int e = err->code;
    fprintf(stderr, "baton lock: cannot %s '%s': %s\n", err->op, f->argv[0],
            err->detail ? err->detail : strerror(e));
    return e == ENOMEM || e == EAGAIN || e == EMFILE || e == ENFILE ? 71 : 69;
}

int bt_fast_lock(int argc, char **argv, int *status) {
    fast_line f;
    if (!parse(&f, argc, argv))
        return 0;
    bt_record_retain();
    bt_flock l;
    bt_flock_init(&l, f.line.shared, 0666, 0);
    bt_err err;
    int sig = 0, rc = bt_fast_take(&l, &f.line, &sig, &err);
    if (rc != BT_OK) {
        bt_flock_release(&l);
        bt_record_release();
        if (rc == BT_BUSY)
            *status = f.line.conflict;
        else if (sig)
            *status = interrupted(sig);
        return rc == BT_BUSY || sig;
    }
    bt_flock_record(&l, NULL, 0);
    char fd[16];
    snprintf(fd, sizeof fd, "%d", l.fd);
    bt_children_adopt();
    bt_spawn_req r = {f.argv, NULL, NULL, {BT_INHERIT, BT_INHERIT, BT_INHERIT}, &l.fd, 1, 0, 0,
                      BT_DIE_CHILD};
    bt_child *c = setenv("BATON_LOCK_FD", fd, 1) == 0 ? bt_spawn(&r, &err) : NULL;
    unsetenv("BATON_LOCK_FD");
    if (c == NULL) {
        bt_flock_release(&l);
        bt_record_release();
        *status = not_started(&f, &err);
        return 1;
    }
    int code = wait_child(c, &sig);
    if (code < 0 && sig) {
        /* the lock stays with what still holds its descriptor, as in cli.lua */
        *status = interrupted(sig);
        return 1;
    }
    bt_child_release(c);
    bt_flock_release(&l);
    bt_record_release();
    if ((sig = bt_signal_caught()) != 0) { /* a signal the command outlived */
        bt_children_stop(BT_STOP_GRACE);
        code = 128 + sig;
    }
    *status = code < 0 ? 71 : code;
    return 1;
}
