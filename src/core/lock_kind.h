/* A kind of lock as a table of operations, so that one generic handle (src/lua/handle.c)
 * drives every kind: a new kind adds a const bt_kind here, not a new userdata class. */
#ifndef BT_LOCK_KIND_H
#define BT_LOCK_KIND_H

#include <stddef.h>

#include "errors.h"

typedef struct bt_kind {
    const char *name;   /* its class, also in messages and __tostring: "baton.flock" */
    const char *what;   /* how failures name its file: "lock file", "soft lock" */
    size_t size;        /* bytes of its state, kept in the handle after the path */
    /* Names of the values held() returns above 0 ([1], [2]); NULL: held() says yes or no. */
    const char *const *held_names;
    /* One attempt without blocking: BT_OK, BT_BUSY or BT_FAIL with *err, and *named set to
     * the file a failure is about (path, or the kind's own file such as a slot). `how` is 1
     * for a write (exclusive) attempt where a kind has both modes in one handle. */
    int (*try_)(void *state, const char *path, int how, bt_err *err, const char **named);
    /* Wait up to `seconds` (a number, never NaN) for a sign of a release: 1 when one came. */
    int (*wait)(void *state, const char *path, double seconds);
    /* The descriptor an event loop can poll while waiting, or -1; NULL: the kind has none. */
    int (*pollfd)(const void *state);
    /* 0 when this process does not hold it, else above 0 (see held_names). */
    int (*held)(const void *state);
    /* Publish a holder note (holder_records.h); NULL: the kind publishes none. */
    void (*record)(void *state, const char *note, size_t len);
    /* Give the lock back; the handle stays usable. Idempotent. */
    void (*release)(void *state, const char *path);
    /* Give it back and free everything the state holds: the handle's end. Idempotent. */
    void (*end)(void *state, const char *path);
} bt_kind;

/* The wait of a kind whose releases nobody is told of (soft read/write locks, strict claims):
 * the pause itself, `seconds` long; 0, no sign of a release. */
int bt_kind_pause(void *state, const char *path, double seconds);

/* The kinds of lock_kinds.c; each state is set up by the kind's own init before use. */
extern const bt_kind bt_flock_kind;     /* state: bt_flock (flock_lock.h) */
extern const bt_kind bt_soft_kind;      /* state: bt_soft (soft_lock.h) */
extern const bt_kind bt_rw_kind;        /* state: bt_rw *, from bt_rw_new (rw_lock.h) */
extern const bt_kind bt_semaphore_kind; /* state: bt_sem *, from bt_sem_new (semaphore.h) */

#endif
