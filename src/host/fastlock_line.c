/* The part of `baton lock` without Lua that every platform shares (fastlock_line.h): the
 * command line, read as lua/baton/cli.lua reads it, and the wait for the lock. */
#include "fastlock_line.h"

#include <stdlib.h>
#include <string.h>

#include "../core/clock.h"
#include "../core/signals.h"

#define FIRST_PAUSE 0.0005 /* a wait with a deadline looks again after these, doubling */
#define LAST_PAUSE 0.01

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
static int take_option(bt_fast_line *f, char key, const char *value) {
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
static int parse_options(bt_fast_line *f, int argc, char **argv) {
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

int bt_fast_parse(bt_fast_line *f, int argc, char **argv) {
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
        f->shell_command = argv[i + 1];
        return 1;
    }
    f->command = argv + i;
    f->ncommand = argc - i;
    return 1;
}

int bt_fast_take(bt_flock *l, const bt_fast_line *f, int *sig, bt_err *err) {
    int rc = bt_flock_try(l, f->file, err);
    if (rc != BT_BUSY || f->nonblock || f->timeout == 0)
        return rc;
    if (f->timeout < 0) {
        /* a signal that came before the call would not interrupt it: look first */
        while ((*sig = bt_signal_caught()) == 0)
            if ((rc = bt_flock_block(l, f->file, err)) != BT_BUSY)
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
        if ((rc = bt_flock_try(l, f->file, err)) != BT_BUSY)
            return rc;
        pause = pause * 2 < LAST_PAUSE ? pause * 2 : LAST_PAUSE;
    }
}

