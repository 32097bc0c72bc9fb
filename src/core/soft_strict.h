/* Strict soft locks: Python filelock's StrictSoftFileLock on the same files. The lock path
 * holds a sentinel ("1\nfilelock-strict-v1\0\n0\n", kept for good) and the lock is a claim
 * in PATH.filelock/claims/: a holder publishes intent-v1-TOKEN.claim, checks that no claim
 * is held and that its own is the least, links it to held-v1-TOKEN.claim and checks again
 * that its token is the least of all. Each claim records "filelock-strict-v1\nTOKEN\nPID\n
 * HOST-IN-HEX\nSTART-TOKEN\n". A claim is never broken by age or by its holder's death: only
 * an operator's break (bt_strict_break) removes it. */
#ifndef BT_SOFT_STRICT_H
#define BT_SOFT_STRICT_H

#include <stddef.h>
#include <sys/types.h>

#include "errors.h"
#include "lock_kind.h"
#include "soft_marker.h"

typedef struct bt_strict {
    int claims;        /* the claim folder while held; -1 otherwise */
    pid_t owner;       /* process that took it: a forked child must not remove its claims */
    char intent[64], held[64];
    mode_t mode;
    int make_parents;
} bt_strict;

extern const bt_kind bt_strict_kind; /* state: bt_strict */

void bt_strict_init(bt_strict *l, mode_t mode, int make_parents);

/* One published claim, for baton.holder. */
typedef struct bt_claim {
    char name[64];
    int held;          /* held-, else intent- */
    char token[33];
    long pid;
    char host[BT_HOST_LEN];
    char start[BT_TOKEN_LEN]; /* "" when none */
    double mtime;
    int valid;         /* the record could be read and parsed */
} bt_claim;

/* The claims published for the strict lock at `path` into out (at most max): how many
 * there are, or -1 with errno (ENOENT: no claim folder). */
int bt_strict_claims(const char *path, bt_claim *out, int max);

/* An operator's break: remove every claim of the strict lock at `path`. Returns how many
 * were removed, or -1 with *err filled in. */
int bt_strict_break(const char *path, bt_err *err);

#endif
