/* Counting semaphores from n flock(2) slot files (semaphore.h). */
#define _GNU_SOURCE
#include "semaphore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flock_lock.h"
#include "os/os.h"

struct bt_sem {
    int n;
    int held;       /* index of the slot we hold, or -1 */
    int bad;        /* a slot the last attempt could not use, or -1 */
    bt_err bad_err; /* why */
    bt_watch watch; /* while waiting: every slot file, for closes */
    int *wds;       /* the watch's storage */
    char **paths;   /* slot file names: path.1 .. path.n */
    bt_flock slot[];
};

bt_sem *bt_sem_new(const char *path, int n, mode_t mode, int make_parents) {
    bt_sem *s = calloc(1, sizeof *s + (size_t)n * sizeof s->slot[0]);
    if (!s)
        return NULL;
    s->n = n;
    s->held = -1;
    s->bad = -1;
    s->watch.fd = -1; /* nothing to stop until bt_watch_init */
    for (int i = 0; i < n; i++)
        bt_flock_init(&s->slot[i], 0, mode, make_parents);
    s->wds = malloc((size_t)n * sizeof *s->wds);
    s->paths = calloc((size_t)n, sizeof *s->paths);
    if (!s->wds || !s->paths)
        goto fail;
    bt_watch_init(&s->watch, s->wds, n);
    size_t len = strlen(path) + 16;
    for (int i = 0; i < n; i++) {
        s->paths[i] = malloc(len);
        if (!s->paths[i])
            goto fail;
        snprintf(s->paths[i], len, "%s.%d", path, i + 1);
    }
    return s;
fail:
    bt_sem_free(s);
    return NULL;
}

/* Slots are tried in order. A slot file that cannot be used (a symbolic link, a folder, a
 * file this user may not open: anyone who can write to the folder can put one there) is
 * passed over like a held slot, so it takes away that slot and no more. Only when no slot
 * is held by others and none can be used does the attempt fail, naming the first bad one. */
int bt_sem_try(bt_sem *s, bt_err *err, const char **failed) {
    if (s->held >= 0 && bt_flock_held(&s->slot[s->held]))
        return BT_OK;
    s->held = -1;
    s->bad = -1;
    int busy = 0;
    for (int i = 0; i < s->n; i++) {
        bt_err e;
        int r = bt_flock_try(&s->slot[i], s->paths[i], &e);
        if (r == BT_BUSY) {
            busy = 1;
            continue;
        }
        if (r == BT_FAIL) {
            if (s->bad < 0) {
                s->bad = i;
                s->bad_err = e;
            }
            continue;
        }
        /* Ours: let go of the other slot files (a waiter that sees them close just tries
         * once more) and of the watches. */
        s->held = i;
        s->bad = -1;
        for (int j = 0; j < s->n; j++)
            if (j != i)
                bt_flock_release(&s->slot[j]);
        bt_watch_stop(&s->watch);
        return BT_OK;
    }
    if (busy)
        return BT_BUSY;
    int bad = s->bad;
    *err = s->bad_err;
    *failed = s->paths[bad];
    bt_sem_release(s);
    return BT_FAIL;
}

const char *bt_sem_unusable(const bt_sem *s, bt_err *err) {
    if (s->bad < 0)
        return NULL;
    *err = s->bad_err;
    return s->paths[s->bad];
}

int bt_sem_wait(bt_sem *s, double seconds) {
    int woke = bt_watch_wait(&s->watch, (const char *const *)s->paths, 0, NULL, seconds);
    return woke == BT_WOKE_EVENT || woke == BT_WOKE_REPLACED;
}

int bt_sem_slot(const bt_sem *s) {
    return s->held >= 0 && bt_flock_held(&s->slot[s->held]) ? s->held + 1 : 0;
}

const char *bt_sem_slot_path(const bt_sem *s, int k) {
    return k >= 1 && k <= s->n ? s->paths[k - 1] : NULL;
}

void bt_sem_release(bt_sem *s) {
    for (int i = 0; i < s->n; i++)
        bt_flock_release(&s->slot[i]);
    s->held = -1;
    s->bad = -1;
    bt_watch_stop(&s->watch);
}

void bt_sem_free(bt_sem *s) {
    if (!s)
        return;
    bt_sem_release(s);
    for (int i = 0; s->paths && i < s->n; i++)
        free(s->paths[i]);
    free(s->paths);
    free(s->wds);
    free(s);
}
