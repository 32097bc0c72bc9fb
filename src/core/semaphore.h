/* Counting semaphores from flock(2) locks: slot k of the semaphore at `path` is an exclusive
 * flock on the file `path.k` (k = 1..n). Holding any slot is holding the semaphore, so at
 * most n holders exist at once, and a holder's slot is freed by the kernel the moment its
 * process ends: there is no count that a crash could leave wrong. */
#ifndef BT_SEM_H
#define BT_SEM_H

#include <sys/types.h>

#include "errors.h"

/* Most slots a semaphore may have: a waiter keeps one descriptor per slot open. */
#define BT_SEM_MAX 1024

typedef struct bt_sem bt_sem;

/* A semaphore handle of n slots (1 <= n <= BT_SEM_MAX, which the caller checks), holding
 * nothing, or NULL when out of memory. `path` is copied. */
bt_sem *bt_sem_new(const char *path, int n, mode_t mode, int make_parents);

/* One attempt without blocking to take a free slot, trying them in order: BT_OK (a slot is
 * held), BT_BUSY (every slot is held by others, or cannot be used), or BT_FAIL when no slot
 * is held by others and none can be used, with *err filled in and *failed naming the first
 * slot file at fault. A slot file that cannot be used is passed over. While busy, the slot
 * files stay open so the waiter can watch them. */
int bt_sem_try(bt_sem *s, bt_err *err, const char **failed);

/* After a busy attempt: the first slot file it could not use, with *err saying why, or NULL
 * when every slot was held by others. */
const char *bt_sem_unusable(const bt_sem *s, bt_err *err);

/* Wait up to `seconds` for a sign that a slot may have become free (a slot file was closed,
 * replaced or removed). The first call only arms the watches and returns at once, so the
 * caller's next attempt closes the race with a release that came before them. Returns 1
 * when woken by an event, else 0. */
int bt_sem_wait(bt_sem *s, double seconds);

/* The slot (1..n) this process holds, or 0. */
int bt_sem_slot(const bt_sem *s);

/* The path of the file behind slot k (1..n). */
const char *bt_sem_slot_path(const bt_sem *s, int k);

/* Release the slot (if held by this process) and close every descriptor. Idempotent. */
void bt_sem_release(bt_sem *s);

void bt_sem_free(bt_sem *s);

#endif
