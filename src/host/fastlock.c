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
#include "interrupt.h"

#define MAX_ARGV 256
#define FIRST_PAUSE 0.0005 /* a wait with a deadline looks again after these, doubling */
#define LAST_PAUSE 0.01
#define CHILD_PAUSE 0.05 /* the longest wait for the command between looks at the signal flag */

typedef struct {
    int shared, nonblock, conflict;
    double timeout; /* < 0: none */
    const char *file;
    char *argv[MAX_ARGV + 1];
} fast_line;

/* Digits with at most one point: the values cli.lua reads the same way (tonumber). */
static int plain_number(const char *s, double *out) {
    int digits = 0, points = 0;
    for (const char *p = s; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digits++;
        else if (*p == '.' && !points)
            points++;
        else
            return 0;
    }
    if (!digits || strlen(s) > 20)
        return 0;
    *out = strtod(s, NULL);
    return 1;
}

/* Option `key` (one of s x e n w E, already mapped from its long form) with its value. */
static int take_option(fast_line *f, char key, const char *value) {
    double v;
    switch (key) {
    case 's':
        f->shared = 1;
        return 1;
    case 'x':
    case 'e':
        f->shared = 0;
        return 1;
    case 'n':
        f->nonblock = 1;
        return 1;
    case 'w':
        if (!value || !plain_number(value, &v))
            return 0;
        f->timeout = v;
        return 1;
    case 'E':
        if (!value || !plain_number(value, &v) || strchr(value, '.') || v > 255)
            return 0;
        f->conflict = (int)v;
        return 1;
    default:
        return 0;
    }
}

static char long_key(const char *name) {
    static const struct {
        const char *name;
        char key;
    } names[] = {{"shared", 's'},      {"exclusive", 'x'}, {"nonblock", 'n'},
                 {"nonblocking", 'n'}, {"nb", 'n'},        {"timeout", 'w'},
                 {"wait", 'w'},        {"conflict-exit-code", 'E'}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i].name) == 0)
            return names[i].key;
    return 0;
}

/* The options before FILE; the index of FILE, or 0 when this path does not take the line. */
static int parse_options(fast_line *f, int argc, char **argv) {
    int i = 2;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
        char *a = argv[i];
        if (strcmp(a, "--") == 0)
            return i + 1;
        if (a[1] == '-') {
            char name[32];
            const char *eq = strchr(a + 2, '=');
            size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            if (len >= sizeof name)
                return 0;
            memcpy(name, a + 2, len);
            name[len] = '\0';
            char key = long_key(name);
            const char *value = eq ? eq + 1 : NULL;
            if ((key == 'w' || key == 'E') && !value)
                value = ++i < argc ? argv[i] : NULL;
            else if (key != 'w' && key != 'E' && value)
                return 0;
            if (!key || !take_option(f, key, value))
                return 0;
            continue;
        }
        for (char *c = a + 1; *c; c++) {
            if (*c == 'w' || *c == 'E') {
                const char *value = c[1] ? c + 1 : (++i < argc ? argv[i] : NULL);
                if (!take_option(f, *c, value))
                    return 0;
                break;
            }
            if (!take_option(f, *c, NULL))
                return 0;
        }
    }
    return i;
}

/* The whole command line, or 0. */
static int parse(fast_line *f, int argc, char **argv) {
    memset(f, 0, sizeof *f);
    f->conflict = 1;
    f->timeout = -1;
    int i = parse_options(f, argc, argv);
    if (i == 0 || i + 1 >= argc)
        return 0;
    f->file = argv[i++];
    if (f->file[0] == '\0' || strstr(f->file, "://"))
        return 0;
    if (strcmp(argv[i], "--") == 0 && ++i >= argc)
        return 0;
    if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--command") == 0) {
        if (argc - i != 2)
            return 0;
        const char *shell = getenv("SHELL");
        f->argv[0] = (char *)(shell && *shell ? shell : "/bin/sh");
        f->argv[1] = (char *)"-c";
        f->argv[2] = argv[i + 1];
        return 1;
    }
    if (argc - i > MAX_ARGV)
        return 0;
    for (int k = 0; i < argc; i++, k++)
        f->argv[k] = argv[i];
    struct stat st; /* a folder is locked through a descriptor: cli.lua does it */
    return !(lstat(f->file, &st) == 0 && S_ISDIR(st.st_mode));
}

/* An interruption: what the command started is stopped first, as cli.lua does. */
static int interrupted(int sig) {
    bt_children_stop(BT_STOP_GRACE);
    fprintf(stderr, "baton: interrupted by %s\n", bt_signal_name(sig));
    fflush(stderr);
    return 128 + sig;
}

/* Take the lock as -n / -w / neither say: BT_OK, BT_BUSY (gave up) or BT_FAIL; a signal is
 * BT_FAIL with *sig set. */
static int take(bt_flock *l, const fast_line *f, int *sig) {
    bt_err err;
    int rc = bt_flock_try(l, f->file, &err);
    if (rc != BT_BUSY || f->nonblock || f->timeout == 0)
        return rc;
    if (f->timeout < 0) {
        /* a signal that came before the call would not interrupt it: look first */
        while ((*sig = bt_signal_caught()) == 0)
            if ((rc = bt_flock_block(l, f->file, &err)) != BT_BUSY)
                return rc;
        return BT_FAIL;
    }
    double deadline = bt_now() + f->timeout, pause = FIRST_PAUSE;
    for (;;) {
        double left = deadline - bt_now();
        if (left <= 0)
            return BT_BUSY;
        bt_flock_wait(l, f->file, left < pause ? left : pause);
        if ((*sig = bt_signal_caught()) != 0)
            return BT_FAIL;
        if ((rc = bt_flock_try(l, f->file, &err)) != BT_BUSY)
            return rc;
        pause = pause * 2 < LAST_PAUSE ? pause * 2 : LAST_PAUSE;
    }
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
    bt_flock_init(&l, f.shared, 0666, 0);
    int sig = 0, rc = take(&l, &f, &sig);
    if (rc != BT_OK) {
        bt_flock_release(&l);
        bt_record_release();
        if (rc == BT_BUSY)
            *status = f.conflict;
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
    bt_err err;
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
