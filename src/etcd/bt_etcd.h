/* Locks on etcd, following etcd's own recipe (the one `etcdctl lock` uses, so the two exclude
 * each other): a key NAME/<lease id in hex> put with a lease; the key with the lowest create
 * revision holds the lock; a waiter watches the key just ahead of it for deletion. Shared
 * holders follow ZooKeeper's read/write recipe: a reader waits only for the last writer
 * ahead of it, a writer for whoever is just ahead. A lease thread keeps the key alive. */
#ifndef BT_ETCD_H
#define BT_ETCD_H

#include <sys/types.h>

#include "bt_etcd_http.h"
#include "bt_etcd_lease.h"
#include "bt_etcd_url.h"
#include "bt_etcd_watch.h"

typedef struct bt_etcd_lock {
    bt_etcd_url url;
    bt_etcd_http http;     /* the caller's connection */
    bt_etcd_lease lease;   /* while queued or held */
    bt_etcd_watch watch;   /* on the key ahead, while queued */
    int ready;             /* everything above was set up */
    pid_t pid;             /* the process whose connections and thread these are: a forked
                            * child shares the parent's sockets and owns no lease, so it sets
                            * up its own and holds nothing */
    long timeout_ms;       /* for one request to one endpoint */
    int state;             /* BT_ETCD_IDLE, _QUEUED or _HELD */
    int waiting;           /* this acquisition got a place in the queue once: trouble reaching
                            * etcd from now on means waiting longer, not failing */
    int shared;
    long long ttl;         /* seconds asked for */
    char *from_b64;        /* the range of the lock's keys: NAME "/" up to NAME "0" */
    char *to_b64;
    char *key;             /* our key while queued or held */
    char *key_b64;
    long long rev;         /* its create revision: the fencing token once held */
    double looked;         /* when the state was last read from etcd */
    double retry_at;       /* while etcd cannot be reached: the next look, not before */
    double pause;          /* and the pause after that */
    int lostfd;            /* eventfd, readable once a held lock is lost */
    char *note;            /* recorded in the key's value, for holder() */
    char *value;           /* when set, the key's value instead of the record (elections) */
    size_t value_len;
    long long got_rev;     /* the cluster's revision when the lock was found ours (what
                            * `etcdctl lock` exports as ETCD_LOCK_REV) */
    int watch_failures;    /* failed requests of the lease thread when the watch started */
} bt_etcd_lock;

enum { BT_ETCD_IDLE, BT_ETCD_QUEUED, BT_ETCD_HELD };

/* Set up a lock for `path` (nothing is sent yet). On a bad path returns -1 with `why` set;
 * bt_etcd_close must be called in every case. */
int bt_etcd_open(bt_etcd_lock *l, const char *path, const bt_etcd_conf *conf, double ttl,
                 int shared, const char *note, char *why, size_t whylen);

/* Store `value` (len bytes, any bytes) under the key instead of baton's record, as an
 * election candidate does; NULL goes back to the record. Returns 0, or -1 out of memory. */
int bt_etcd_set_value(bt_etcd_lock *l, const char *value, size_t len);

/* The value of a held key replaced (an election leader's proclamation): BT_OK, BT_ETCD_LOST
 * when the key is no longer ours, or BT_ETCD_DOWN / BT_ETCD_ERROR with *err. */
int bt_etcd_proclaim(bt_etcd_lock *l, const char *value, size_t len, bt_etcd_err *err);

/* While held: the cluster's revision when it became ours, and our key (else 0 / NULL). */
long long bt_etcd_got_rev(const bt_etcd_lock *l);
const char *bt_etcd_key(const bt_etcd_lock *l);
long long bt_etcd_lease_id(const bt_etcd_lock *l);

/* One attempt that does not wait for the lock: BT_OK (held), BT_BUSY, or BT_ETCD_DOWN /
 * BT_ETCD_ERROR with *err. While queued it asks etcd only when something changed. */
int bt_etcd_try(bt_etcd_lock *l, bt_etcd_err *err);

/* Wait up to `seconds` for a change worth another attempt; 1 when one came. */
int bt_etcd_wait(bt_etcd_lock *l, double seconds);

/* A descriptor an event loop can poll while waiting (the watch's socket), or -1. */
int bt_etcd_pollfd(const bt_etcd_lock *l);

/* 1 while this process holds the lock and its lease is certainly alive. */
int bt_etcd_held(bt_etcd_lock *l);

/* The fencing token (our key's create revision) while held, else 0. */
long long bt_etcd_token(bt_etcd_lock *l);

/* An eventfd that becomes readable when a held lock is lost (-1 when none could be made). */
int bt_etcd_lostfd(bt_etcd_lock *l);

/* 1 when the lock was held and its lease was lost; `why` says how. */
int bt_etcd_lost(bt_etcd_lock *l, char *why, size_t len);

/* Give up the lock or the place in its queue. Returns 1 when the lock had been lost (then
 * `why` says how), else 0. Idempotent. */
int bt_etcd_release(bt_etcd_lock *l, char *why, size_t len);

/* Release and free everything; the lock may not be used afterwards. */
void bt_etcd_close(bt_etcd_lock *l);

/* Who holds the lock at `path`: the key with the lowest create revision. */
typedef struct bt_etcd_holder {
    long long token;   /* its create revision */
    long long lease;
    long long pid;     /* 0 when not recorded (etcdctl's keys have no value) */
    double since;      /* seconds since the epoch; 0 when not recorded */
    int shared;
    int queued;        /* keys under the lock's prefix, the holder's included */
    char host[256];
    char note[1024];
    char key[512];
    char *value;       /* the key's value as stored (malloc'd, to free; NULL when empty) */
    size_t value_len;
    long long revision; /* the cluster's revision when asked */
} bt_etcd_holder;

/* 1 with *out filled in, 0 when nobody holds it, or BT_ETCD_DOWN / BT_ETCD_ERROR. A bad
 * path gives BT_ETCD_ERROR with code "EINVAL". out->value must be freed in every case. */
int bt_etcd_holder_of(const char *path, const bt_etcd_conf *conf, bt_etcd_holder *out,
                      bt_etcd_err *err);

#endif
