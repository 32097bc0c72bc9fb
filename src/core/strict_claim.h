/* What every platform's strict soft locks (soft_strict.h) share: filelock-strict-v1's claim
 * names and records, pure functions over names and bytes, and the doorway itself over a
 * platform's operations on the claim folder (soft_strict.c: descriptors; os/windows_strict.c:
 * wide paths). */
#ifndef BT_STRICT_CLAIM_H
#define BT_STRICT_CLAIM_H

#include <stddef.h>
#include <sys/types.h>

#include "errors.h"
#include "soft_strict.h"

#define BT_CLAIM_SUFFIX ".filelock"
#define BT_CLAIM_FOLDER "claims"
#define BT_CLAIM_RECORD_MAX 1024
#define BT_CLAIM_PRIVATE_GRACE 2.0 /* a private record older than this is a crashed publisher's */

/* "intent-v1-TOKEN.claim" or "held-v1-TOKEN.claim": 1 (held), 0 (intent), or -1 (neither);
 * *token (may be NULL) points at its 32 hex digits. */
int bt_claim_state(const char *name, const char **token);

/* 1 when `name` is the private name a claim's record is written under before it is linked. */
int bt_claim_is_private(const char *name);

/* A private name for publishing `name`: ".NAME.private-v1-<32 random hex>.tmp". */
void bt_claim_private_name(char *out, size_t cap, const char *name);

/* The record of claim `token` by this process: its length, or 0 when it does not fit. */
size_t bt_claim_record(char *buf, size_t cap, const char *token, long pid, const char *host,
                       const char *start);

/* Parse a claim's record into c, whose token is set (c->valid = 1 when it is one). */
void bt_claim_parse(const char *buf, size_t n, bt_claim *c);

/* What the `n` bytes read from a strict lock's path say: BT_OK (the sentinel), BT_BUSY (a
 * soft lock's marker: its holder has the lock), or BT_FAIL (someone's data: EEXIST). */
int bt_claim_sentinel(const char *buf, size_t n, bt_err *err);

/* What a listing of the claim folder found. */
typedef struct bt_claim_scan {
    int n, any_held;
    char least_name[64];      /* the least name */
    char least_key[64];       /* the least "v1-TOKEN.claim" */
    int has_intent, has_held; /* ours, when asked */
} bt_claim_scan;

/* Count the claim `name` (held as bt_claim_state says, token its digits) into s; `mine`: our
 * token, to note whether our claims are there. */
void bt_claim_count(bt_claim_scan *s, const char *name, int held, const char *token,
                    const char *mine);

/* A platform's operations on one claim folder `k`. */
typedef struct bt_claim_ops {
    /* List the claims: BT_OK with *s, or BT_FAIL (EPROTO: a name that is no claim). */
    int (*scan)(void *k, const char *mine, bt_claim_scan *s, bt_err *err);
    /* Publish `record` as `name`, whole from its first moment, never replacing: 0, or -1 with
     * errno (EEXIST). */
    int (*publish)(void *k, const char *name, const char *record, size_t len, mode_t mode);
    /* Give the claim `from` the second name `to`, never replacing: 0, or -1 with errno. */
    int (*link)(void *k, const char *from, const char *to);
    void (*unlink)(void *k, const char *name);
} bt_claim_ops;

/* filelock's doorway in the claim folder k: BT_OK (our claims l->intent and l->held stay),
 * BT_BUSY (none of ours left), or BT_FAIL. `pid`, `host` and `start` go into the record. */
int bt_claim_doorway(const bt_claim_ops *ops, void *k, bt_strict *l, long pid, const char *host,
                     const char *start, bt_err *err);

#endif
