/* A lease on etcd and the background thread that keeps it alive: one renewal every third of
 * its TTL, whatever the Lua side is doing. The thread never touches Lua; it only updates the
 * fields below under the mutex and, when the lease is lost, makes `lostfd` readable. */
#ifndef BT_ETCD_LEASE_H
#define BT_ETCD_LEASE_H

#include <pthread.h>
#include <stdatomic.h>

#include "bt_etcd_http.h"

typedef struct bt_etcd_lease {
    long long id;         /* 0 when there is none */
    long long ttl;        /* seconds, as granted (etcd may raise a short request) */
    char cluster[24];     /* the cluster that granted it: an answer from another is a loss */
    bt_etcd_http http;    /* the thread's own connection */
    pthread_t thread;
    int running;          /* the thread was started and not joined yet */
    atomic_int stop;      /* asks the thread (and its transfer) to end */
    pthread_mutex_t mu;   /* guards what follows */
    pthread_cond_t cv;
    int lost;             /* sticky until the next grant */
    double expires;       /* CLOCK_MONOTONIC: send time of the last good renewal + TTL; the
                           * server keeps the lease at least that long */
    double next;          /* when the next renewal is due */
    char problem[480];    /* why the last renewal failed, or why the lease was lost */
    int lostfd;           /* an eventfd owned by the caller, signalled on loss; -1: none */
} bt_etcd_lease;

/* Prepare the lease's mutex, condition and connection. Returns 0, or -1 (out of memory). */
int bt_etcd_lease_init(bt_etcd_lease *l, const bt_etcd_url *url, long timeout_ms, int lostfd);

/* Grant a lease of `ttl` seconds through the caller's connection and start keeping it alive.
 * Returns BT_OK, BT_ETCD_DOWN or BT_ETCD_ERROR (the lease is then not held). */
int bt_etcd_lease_grant(bt_etcd_lease *l, bt_etcd_http *h, long long ttl, bt_etcd_err *err);

/* 1 while the lease is certainly still alive on the server. Marks it lost once its time has
 * run out without a renewal, even before the thread gets to run (after SIGSTOP, say). */
int bt_etcd_lease_alive(bt_etcd_lease *l);

/* Copy why the lease was lost (or why renewals fail) into buf. */
void bt_etcd_lease_problem(bt_etcd_lease *l, char *buf, size_t len);

/* Stop the thread and revoke the lease (deleting its keys) through the caller's connection;
 * the lease expires by itself when etcd cannot be reached. Returns 1 when it had been lost. */
int bt_etcd_lease_end(bt_etcd_lease *l, bt_etcd_http *h);

/* Free what bt_etcd_lease_init made; the lease must have ended. */
void bt_etcd_lease_destroy(bt_etcd_lease *l);

#endif
