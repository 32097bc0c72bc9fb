#define _GNU_SOURCE
#include "bt_etcd_lease.h"

#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../core/clock.h"
#include "../core/errors.h"
#include "../core/thread.h"

/* `cv` on CLOCK_MONOTONIC (bt_now()'s clock) and `mu`: 0, or the error number (nothing is
 * left to destroy then). */
static int sync_init(pthread_cond_t *cv, pthread_mutex_t *mu) {
    pthread_condattr_t ca;
    int rc = pthread_condattr_init(&ca);
    if (rc != 0)
        return rc;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    rc = pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc == 0 && (rc = pthread_mutex_init(mu, NULL)) != 0)
        pthread_cond_destroy(cv);
    return rc;
}

/* Under `mu`: wait on `cv` (from sync_init) until it is signalled or bt_now() reaches
 * `when`. */
static void sync_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, double when) {
    struct timespec ts;
    double whole = floor(when);
    ts.tv_sec = (time_t)whole;
    ts.tv_nsec = (long)((when - whole) * 1e9);
    pthread_cond_timedwait(cv, mu, &ts);
}

#define RETRY_PAUSE 0.2 /* after a failed renewal, at most this long before the next try */

int bt_etcd_lease_init(bt_etcd_lease *l, const bt_etcd_url *url, long timeout_ms, int lostfd) {
    memset(l, 0, sizeof *l);
    l->lostfd = lostfd;
    if (sync_init(&l->cv, &l->mu) != 0)
        return -1;
    if (bt_etcd_http_init(&l->http, url, timeout_ms, &l->stop) != 0) {
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cv);
        return -1;
    }
    return 0;
}

void bt_etcd_lease_destroy(bt_etcd_lease *l) {
    bt_etcd_http_free(&l->http);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
}

/* Under mu. */
static void mark_lost(bt_etcd_lease *l, const char *why) {
    if (l->lost)
        return;
    l->lost = 1;
    bt_etcd_copy(l->problem, sizeof l->problem, why);
    if (l->lostfd >= 0) {
        uint64_t one = 1;
        ssize_t w = write(l->lostfd, &one, sizeof one);
        (void)w; /* an eventfd only refuses when its counter is full: then it is readable */
    }
}

static void expired(bt_etcd_lease *l) {
    char why[sizeof l->problem + 160];
    snprintf(why, sizeof why, "lease %llx was not renewed within its %lld s TTL%s%s", l->id,
             l->ttl, l->problem[0] ? ": " : " (the process was paused, or etcd was unreachable)",
             l->problem);
    mark_lost(l, why);
}

/* One renewal: 1 renewed (*ttl set), 0 the lease is gone, -1 no usable answer; `why` says
 * what went wrong. */
static int renew(bt_etcd_lease *l, long timeout_ms, long long *ttl, char *why, size_t whylen) {
    bt_etcd_err err;
    json_t *resp = NULL;
    char id[24];
    snprintf(id, sizeof id, "%lld", l->id);
    l->http.timeout_ms = timeout_ms;
    /* an error answer is no proof of loss (etcd says so with TTL 0): try again */
    if (bt_etcd_call(&l->http, "/v3/lease/keepalive", json_pack("{s:s}", "ID", id), &resp,
                     &err) != BT_OK) {
        bt_etcd_copy(why, whylen, err.msg);
        return -1;
    }
    const char *ep = bt_etcd_url_ep(l->http.url, l->http.current);
    int r = 1;
    *ttl = bt_json_i64(resp, "TTL");
    if (strcmp(bt_json_cluster(resp), l->cluster) != 0) {
        snprintf(why, whylen, "etcd at %s now belongs to another cluster (%s, was %s): it was "
                 "restarted with new data, and lease %llx is gone", ep, bt_json_cluster(resp),
                 l->cluster, l->id);
        r = 0;
    } else if (*ttl <= 0) {
        snprintf(why, whylen, "etcd at %s no longer knows lease %llx: it expired (or was "
                 "revoked) before it could be renewed", ep, l->id);
        r = 0;
    }
    json_decref(resp);
    return r;
}

static void *keep_alive(void *arg) {
    bt_etcd_lease *l = arg;
    char why[sizeof l->problem];
    pthread_mutex_lock(&l->mu);
    while (!atomic_load(&l->stop) && !l->lost) {
        double now = bt_now();
        if (now >= l->expires) {
            expired(l);
            break;
        }
        if (now < l->next) {
            sync_wait_until(&l->cv, &l->mu, l->next < l->expires ? l->next : l->expires);
            continue;
        }
        double left = l->expires - now, every = (double)l->ttl / 3;
        long timeout_ms = (long)(1000 * (left < every ? left : every));
        pthread_mutex_unlock(&l->mu);
        long long ttl = 0;
        int r = renew(l, timeout_ms < 100 ? 100 : timeout_ms, &ttl, why, sizeof why);
        pthread_mutex_lock(&l->mu);
        if (l->lost || atomic_load(&l->stop))
            break;
        if (r > 0) {
            l->expires = now + (double)ttl; /* counted from sending: never later than etcd's */
            l->next = now + every;
            l->problem[0] = '\0';
        } else if (r == 0) {
            mark_lost(l, why);
        } else {
            bt_etcd_copy(l->problem, sizeof l->problem, why);
            double again = bt_now() + (every < RETRY_PAUSE ? every : RETRY_PAUSE);
            l->next = again;
        }
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static int start_thread(bt_etcd_lease *l) {
    int rc = bt_thread_start(&l->thread, keep_alive, l);
    l->running = rc == 0;
    return rc;
}

int bt_etcd_lease_grant(bt_etcd_lease *l, bt_etcd_http *h, long long ttl, bt_etcd_err *err) {
    json_t *resp = NULL;
    double sent = bt_now();
    int rc = bt_etcd_call(h, "/v3/lease/grant", json_pack("{s:I}", "TTL", (json_int_t)ttl),
                          &resp, err);
    if (rc != BT_OK)
        return rc;
    long long id = bt_json_i64(resp, "ID"), granted = bt_json_i64(resp, "TTL");
    snprintf(l->cluster, sizeof l->cluster, "%s", bt_json_cluster(resp));
    json_decref(resp);
    if (id == 0 || granted <= 0) {
        bt_etcd_fail(err, "EPROTO", "etcd at %s granted no usable lease",
                     bt_etcd_url_ep(h->url, h->current));
        return BT_ETCD_ERROR;
    }
    /* the thread is not running: no lock needed yet */
    l->id = id;
    l->ttl = granted;
    l->lost = 0;
    l->problem[0] = '\0';
    l->expires = sent + (double)granted;
    l->next = sent + (double)granted / 3;
    atomic_store(&l->stop, 0);
    if (start_thread(l) != 0) {
        bt_etcd_lease_end(l, h);
        bt_etcd_fail(err, "EAGAIN", "cannot start the thread that keeps lease %llx alive", id);
        return BT_ETCD_ERROR;
    }
    return BT_OK;
}

int bt_etcd_lease_alive(bt_etcd_lease *l) {
    pthread_mutex_lock(&l->mu);
    if (!l->lost && bt_now() >= l->expires)
        expired(l);
    int alive = !l->lost;
    pthread_mutex_unlock(&l->mu);
    return alive;
}

void bt_etcd_lease_problem(bt_etcd_lease *l, char *buf, size_t len) {
    pthread_mutex_lock(&l->mu);
    bt_etcd_copy(buf, len, l->problem);
    pthread_mutex_unlock(&l->mu);
}

int bt_etcd_lease_end(bt_etcd_lease *l, bt_etcd_http *h) {
    if (l->running) {
        atomic_store(&l->stop, 1);
        pthread_mutex_lock(&l->mu);
        pthread_cond_signal(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thread, NULL);
        l->running = 0;
    }
    int was_lost = !bt_etcd_lease_alive(l);
    if (l->id != 0) {
        char id[24];
        json_t *resp = NULL;
        bt_etcd_err err;
        snprintf(id, sizeof id, "%lld", l->id);
        /* best effort: a lease nobody renews expires by itself */
        if (bt_etcd_call(h, "/v3/lease/revoke", json_pack("{s:s}", "ID", id), &resp, &err) == BT_OK)
            json_decref(resp);
        l->id = 0;
    }
    return was_lost;
}
