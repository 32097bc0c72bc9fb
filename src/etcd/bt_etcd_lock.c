#define _GNU_SOURCE
#include "bt_etcd.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "../core/clock.h"
#include "../core/errors.h"
#include "../core/pid.h"
#include "bt_etcd_b64.h"

/* A waiter that heard nothing still looks at the queue this often: a watch that went quiet
 * without closing (it should not) costs a late hand-off, never a lock that is never taken. */
#define RECHECK 10.0
/* While etcd cannot be reached, a waiter looks again after pauses growing within these. */
#define FIRST_RETRY 0.05
#define MAX_RETRY 1.0

static char *format(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s) {
        va_start(ap, fmt);
        vsnprintf(s, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    return s;
}

/* The connections, the watch, the lease and its descriptor: made when the lock is opened,
 * and again in a forked child, which must not talk over its parent's connections. */
static int connect_parts(bt_etcd_lock *l) {
    l->lostfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->lostfd < 0 || bt_etcd_http_init(&l->http, &l->url, l->timeout_ms, NULL) != 0)
        return -1;
    if (bt_etcd_watch_init(&l->watch) != 0)
        return -1;
    if (bt_etcd_lease_init(&l->lease, &l->url, l->timeout_ms, l->lostfd) != 0) {
        bt_etcd_watch_free(&l->watch);
        return -1;
    }
    l->pid = bt_pid();
    l->ready = 1;
    return 0;
}

int bt_etcd_open(bt_etcd_lock *l, const char *path, const bt_etcd_conf *conf, double ttl,
                 int shared, const char *note, char *why, size_t whylen) {
    memset(l, 0, sizeof *l);
    l->lostfd = -1;
    l->state = BT_ETCD_IDLE;
    l->pause = FIRST_RETRY;
    if (bt_etcd_url_parse(path, &l->url, why, whylen) != 0 ||
        bt_etcd_url_configure(&l->url, conf, why, whylen) != 0)
        return -1;
    if (!(ttl > 0) || ttl > 1e9) {
        snprintf(why, whylen, "the ttl must be a positive number of seconds");
        return -1;
    }
    l->ttl = (long long)ceil(ttl); /* etcd counts whole seconds */
    l->shared = shared;
    json_t *probe = note ? json_string(note) : NULL;
    if (note && !probe) {
        snprintf(why, whylen, "the note must be UTF-8 text to be stored in etcd");
        return -1;
    }
    json_decref(probe);
    /* long enough for a member to hand over leadership, short enough to try the next one */
    l->timeout_ms = l->ttl * 500 < 1000 ? 1000 : l->ttl * 500 > 5000 ? 5000 : l->ttl * 500;
    size_t plen = strlen(l->url.prefix);
    char *end = malloc(plen + 1);
    if (end) {
        memcpy(end, l->url.prefix, plen + 1);
        end[plen - 1]++; /* "NAME/" -> "NAME0": every key under the prefix sorts before it */
        l->to_b64 = bt_b64_encode(end, plen);
        free(end);
    }
    l->from_b64 = bt_b64_encode(l->url.prefix, plen);
    l->note = note ? strdup(note) : NULL;
    if (!l->from_b64 || !l->to_b64 || (note && !l->note) || connect_parts(l) != 0) {
        snprintf(why, whylen, "out of memory or descriptors setting up the lock");
        return -1;
    }
    return 0;
}

/* In a forked child: whatever the parent queued or held stays the parent's (its thread keeps
 * the lease; the child has no thread). Let go of the child's copies of the sockets without a
 * word on them, leave alone what the parent's thread may have been using (its mutex, its
 * connection: a small leak in the child), and start afresh. */
static void adopt(bt_etcd_lock *l) {
    if (!l->ready || l->pid == bt_pid())
        return;
    bt_etcd_watch_free(&l->watch);
    bt_etcd_http_free(&l->http);
    close(l->lostfd);
    free(l->key);
    free(l->key_b64);
    l->key = l->key_b64 = NULL;
    l->state = BT_ETCD_IDLE;
    l->waiting = 0;
    l->ready = 0;
    l->retry_at = 0;
    l->pause = FIRST_RETRY;
    memset(&l->lease, 0, sizeof l->lease);
    connect_parts(l); /* on failure ready stays 0 and attempts fail cleanly */
}

int bt_etcd_set_value(bt_etcd_lock *l, const char *value, size_t len) {
    char *copy = NULL;
    if (value) {
        copy = malloc(len + 1);
        if (!copy)
            return -1;
        memcpy(copy, value, len);
        copy[len] = '\0';
    }
    free(l->value);
    l->value = copy;
    l->value_len = len;
    return 0;
}

/* The value stored under our key: who we are, for holder(), or the candidate's value.
 * Base64, to be sent. */
static char *record(const bt_etcd_lock *l) {
    char host[256] = "";
    if (l->value)
        return bt_b64_encode(l->value, l->value_len);
    struct timespec now;
    gethostname(host, sizeof host - 1);
    clock_gettime(CLOCK_REALTIME, &now);
    json_t *v = json_pack("{s:s,s:I,s:f,s:b}", "host", host, "pid", (json_int_t)bt_pid(),
                          "since", (double)now.tv_sec + (double)now.tv_nsec / 1e9, "shared",
                          l->shared);
    if (v && l->note)
        json_object_set_new(v, "note", json_string(l->note));
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    char *b64 = text ? bt_b64_encode(text, strlen(text)) : NULL;
    free(text);
    return b64;
}

/* The lock's keys with a create revision up to `max_rev` (0: any), newest first; `limit` 0
 * means all. Writers need only the keys; readers the values too, to tell writers apart. */
static json_t *range_req(const bt_etcd_lock *l, long long max_rev, int limit) {
    json_t *r = json_pack("{s:s,s:s,s:s,s:s,s:b}", "key", l->from_b64, "range_end", l->to_b64,
                          "sort_target", "CREATE", "sort_order", "DESCEND", "keys_only",
                          !l->shared);
    char rev[24];
    if (r && max_rev > 0) {
        snprintf(rev, sizeof rev, "%lld", max_rev);
        json_object_set_new(r, "max_create_revision", json_string(rev));
    }
    if (r && limit > 0)
        json_object_set_new(r, "limit", json_integer(limit));
    return r;
}

/* A key whose value says {"shared": true}: a reader. Anything else (etcdctl's empty values
 * included) is a writer. */
static int is_reader(const json_t *kv) {
    const char *v = json_string_value(json_object_get(kv, "value"));
    size_t n;
    char *text = v ? bt_b64_decode(v, &n) : NULL;
    json_error_t jerr;
    json_t *doc = text ? json_loadb(text, n, 0, &jerr) : NULL;
    int reader = json_is_true(json_object_get(doc, "shared"));
    json_decref(doc);
    free(text);
    return reader;
}

static void backoff_reset(bt_etcd_lock *l) {
    l->retry_at = 0;
    l->pause = FIRST_RETRY;
}

/* Put our record again with the time we became the holder (it was written when we queued).
 * Only if our key is still the one we made; best effort. */
static void refresh_record(bt_etcd_lock *l) {
    char rev[24], lease[24];
    char *value = record(l);
    if (!value)
        return;
    snprintf(rev, sizeof rev, "%lld", l->rev);
    snprintf(lease, sizeof lease, "%lld", l->lease.id);
    json_t *resp = NULL;
    bt_etcd_err err;
    if (bt_etcd_call(&l->http, "/v3/kv/txn",
                     json_pack("{s:[{s:s,s:s,s:s}],s:[{s:{s:s,s:s,s:s}}]}", "compare", "key",
                               l->key_b64, "target", "CREATE", "create_revision", rev,
                               "success", "request_put", "key", l->key_b64, "value", value,
                               "lease", lease),
                     &resp, &err) == BT_OK)
        json_decref(resp);
    free(value);
}

/* Given the lock's keys (newest first) as of `revision`, take the lock or watch the key we
 * wait for: the writer-or-reader just ahead (a writer), the writer just ahead (a reader). */
static int decide(bt_etcd_lock *l, const json_t *kvs, long long revision, int waited,
                  bt_etcd_err *err) {
    const json_t *ahead = NULL;
    size_t i;
    json_t *kv;
    json_array_foreach(kvs, i, kv) {
        if (bt_json_i64(kv, "create_revision") >= l->rev)
            continue; /* our own key */
        if (!l->shared || !is_reader(kv)) {
            ahead = kv;
            break;
        }
    }
    l->looked = bt_now();
    if (!ahead) {
        bt_etcd_watch_stop(&l->watch);
        l->state = BT_ETCD_HELD;
        l->got_rev = revision;
        if (waited && !l->value)
            refresh_record(l);
        return BT_OK;
    }
    const char *key = json_string_value(json_object_get(ahead, "key"));
    if (!key) {
        bt_etcd_fail(err, "EPROTO", "etcd at %s listed a key without a name",
                     bt_etcd_url_ep(&l->url, l->http.current));
        return BT_ETCD_ERROR;
    }
    l->watch_failures = atomic_load(&l->lease.http.failures);
    int rc = bt_etcd_watch_start(&l->watch, &l->http, key, revision + 1, err);
    return rc == BT_OK ? BT_BUSY : rc;
}

static const json_t *txn_range(const json_t *resp, size_t i) {
    return json_object_get(json_object_get(json_array_get(json_object_get(resp, "responses"), i),
                                           "response_range"),
                           "kvs");
}

/* Our place in the queue is gone (lease lost or revoked, key deleted): give back the rest. */
static void dequeue(bt_etcd_lock *l) {
    bt_etcd_watch_stop(&l->watch);
    bt_etcd_lease_end(&l->lease, &l->http);
    l->state = BT_ETCD_IDLE;
    free(l->key);
    free(l->key_b64);
    l->key = l->key_b64 = NULL;
}

/* Get a lease, put our key under it and see who is ahead, in one transaction. */
static int enqueue(bt_etcd_lock *l, bt_etcd_err *err) {
    eventfd_t stale;
    eventfd_read(l->lostfd, &stale); /* a loss of an earlier lease is no news about this one */
    int rc = bt_etcd_lease_grant(&l->lease, &l->http, l->ttl, err);
    if (rc != BT_OK)
        return rc;
    l->state = BT_ETCD_QUEUED;
    char lease[24];
    snprintf(lease, sizeof lease, "%lld", l->lease.id);
    l->key = format("%s%llx", l->url.prefix, l->lease.id);
    l->key_b64 = l->key ? bt_b64_encode(l->key, strlen(l->key)) : NULL;
    char *value = record(l);
    json_t *req = NULL;
    if (l->key_b64 && value)
        req = json_pack("{s:[{s:s,s:s,s:s}],s:[{s:{s:s,s:s,s:s}},{s:o}],s:[{s:{s:s}}]}",
                        "compare", "key", l->key_b64, "target", "CREATE", "create_revision", "0",
                        "success", "request_put", "key", l->key_b64, "value", value, "lease",
                        lease, "request_range", range_req(l, 0, l->shared ? 0 : 2), "failure",
                        "request_range", "key", l->key_b64);
    free(value);
    json_t *resp = NULL;
    rc = bt_etcd_call(&l->http, "/v3/kv/txn", req, &resp, err);
    if (rc != BT_OK) {
        dequeue(l);
        return rc;
    }
    l->waiting = 1;
    if (!json_is_true(json_object_get(resp, "succeeded"))) {
        /* the key existed already (a lease id used twice?): take its revision, look next time */
        const json_t *kv = json_array_get(txn_range(resp, 0), 0);
        l->rev = bt_json_i64(kv, "create_revision");
        l->looked = 0;
        json_decref(resp);
        return BT_BUSY;
    }
    l->rev = bt_json_i64(json_object_get(resp, "header"), "revision");
    rc = decide(l, txn_range(resp, 1), l->rev, 0, err);
    json_decref(resp);
    return rc;
}

/* Look at the queue ahead of our key, provided our key is still the one we made. */
static int look(bt_etcd_lock *l, bt_etcd_err *err) {
    char rev[24];
    snprintf(rev, sizeof rev, "%lld", l->rev);
    json_t *resp = NULL;
    int rc = bt_etcd_call(&l->http, "/v3/kv/txn",
                          json_pack("{s:[{s:s,s:s,s:s}],s:[{s:o}]}", "compare", "key", l->key_b64,
                                    "target", "CREATE", "create_revision", rev, "success",
                                    "request_range", range_req(l, l->rev - 1, l->shared ? 0 : 1)),
                          &resp, err);
    if (rc != BT_OK)
        return rc;
    if (!json_is_true(json_object_get(resp, "succeeded"))) {
        json_decref(resp);
        return BT_ETCD_LOST;
    }
    rc = decide(l, txn_range(resp, 0), bt_json_i64(json_object_get(resp, "header"), "revision"),
                1, err);
    json_decref(resp);
    return rc;
}

/* The lease thread found a member that did not answer since the watch started: the watch
 * may be on that member, silent for good (a stopped process still holds its connections
 * open). Look again, and watch through a member that answers. */
static int watch_suspect(const bt_etcd_lock *l) {
    return atomic_load(&l->lease.http.failures) != l->watch_failures;
}

int bt_etcd_try(bt_etcd_lock *l, bt_etcd_err *err) {
    adopt(l);
    if (!l->ready) {
        bt_etcd_fail(err, "ENOMEM", "out of memory or descriptors setting up the lock");
        return BT_ETCD_ERROR;
    }
    if (l->state == BT_ETCD_HELD)
        return BT_OK;
    if (l->state == BT_ETCD_QUEUED && !bt_etcd_lease_alive(&l->lease))
        dequeue(l); /* our key went with the lease: queue again */
    double now = bt_now();
    if (now < l->retry_at)
        return BT_BUSY;
    int rc;
    if (l->state == BT_ETCD_IDLE) {
        rc = enqueue(l, err);
    } else if (!bt_etcd_watch_changed(&l->watch) && now - l->looked < RECHECK &&
               !watch_suspect(l)) {
        return BT_BUSY; /* nothing happened ahead of us: no need to ask */
    } else {
        /* a watch that ended without its key going (its member failed, say) is followed by
         * growing pauses, so that a member that keeps ending watches is not hammered */
        int quiet_end = l->watch.easy && l->watch.ended && !l->watch.fired;
        rc = look(l, err);
        if (quiet_end && rc == BT_BUSY) {
            l->retry_at = bt_now() + l->pause;
            l->pause = l->pause * 2 < MAX_RETRY ? l->pause * 2 : MAX_RETRY;
            return rc;
        }
        if (rc == BT_ETCD_LOST) {
            dequeue(l);
            rc = enqueue(l, err);
        }
    }
    if (rc == BT_ETCD_DOWN && l->waiting) {
        /* etcd is out of reach for now: keep waiting (the caller's deadline still holds) */
        l->retry_at = bt_now() + l->pause;
        l->pause = l->pause * 2 < MAX_RETRY ? l->pause * 2 : MAX_RETRY;
        return BT_BUSY;
    }
    if (rc == BT_OK || rc == BT_BUSY)
        backoff_reset(l);
    return rc;
}

int bt_etcd_wait(bt_etcd_lock *l, double seconds) {
    adopt(l);
    double now = bt_now();
    if (l->state == BT_ETCD_QUEUED) {
        if (!bt_etcd_lease_alive(&l->lease))
            return 1;
        if (now >= l->retry_at) {
            if (watch_suspect(l))
                return 1;
            double until_look = l->looked + RECHECK - now;
            return bt_etcd_watch_wait(&l->watch, seconds < until_look ? seconds : until_look);
        }
    }
    if (l->retry_at > now && l->retry_at - now < seconds)
        seconds = l->retry_at - now;
    bt_sleep(seconds);
    return 0;
}

int bt_etcd_pollfd(const bt_etcd_lock *l) {
    return l->state == BT_ETCD_QUEUED && l->pid == bt_pid() ? bt_etcd_watch_fd(&l->watch) : -1;
}

int bt_etcd_lostfd(bt_etcd_lock *l) {
    adopt(l);
    return l->lostfd;
}

int bt_etcd_held(bt_etcd_lock *l) {
    adopt(l);
    return l->state == BT_ETCD_HELD && bt_etcd_lease_alive(&l->lease);
}

long long bt_etcd_got_rev(const bt_etcd_lock *l) {
    return l->state == BT_ETCD_HELD ? l->got_rev : 0;
}

const char *bt_etcd_key(const bt_etcd_lock *l) {
    return l->state == BT_ETCD_HELD ? l->key : NULL;
}

long long bt_etcd_lease_id(const bt_etcd_lock *l) {
    return l->state == BT_ETCD_HELD ? l->lease.id : 0;
}

int bt_etcd_proclaim(bt_etcd_lock *l, const char *value, size_t len, bt_etcd_err *err) {
    adopt(l);
    if (l->state != BT_ETCD_HELD || !bt_etcd_lease_alive(&l->lease)) {
        bt_etcd_fail(err, "lost", "not the leader: the key is no longer held");
        return BT_ETCD_LOST;
    }
    char rev[24], lease[24];
    char *b64 = bt_b64_encode(value, len);
    if (!b64 || bt_etcd_set_value(l, value, len) != 0) {
        free(b64);
        bt_etcd_fail(err, "ENOMEM", "out of memory");
        return BT_ETCD_ERROR;
    }
    snprintf(rev, sizeof rev, "%lld", l->rev);
    snprintf(lease, sizeof lease, "%lld", l->lease.id);
    json_t *resp = NULL;
    int rc = bt_etcd_call(&l->http, "/v3/kv/txn",
                          json_pack("{s:[{s:s,s:s,s:s}],s:[{s:{s:s,s:s,s:s}}]}", "compare",
                                    "key", l->key_b64, "target", "CREATE", "create_revision",
                                    rev, "success", "request_put", "key", l->key_b64, "value",
                                    b64, "lease", lease),
                          &resp, err);
    free(b64);
    if (rc != BT_OK)
        return rc;
    int ours = json_is_true(json_object_get(resp, "succeeded"));
    json_decref(resp);
    if (!ours) {
        bt_etcd_fail(err, "lost", "not the leader: key %s is gone", l->key);
        return BT_ETCD_LOST;
    }
    return BT_OK;
}

long long bt_etcd_token(bt_etcd_lock *l) {
    adopt(l);
    return l->state == BT_ETCD_HELD ? l->rev : 0;
}

int bt_etcd_lost(bt_etcd_lock *l, char *why, size_t len) {
    adopt(l);
    if (l->state != BT_ETCD_HELD || bt_etcd_lease_alive(&l->lease))
        return 0;
    bt_etcd_lease_problem(&l->lease, why, len);
    return 1;
}

int bt_etcd_release(bt_etcd_lock *l, char *why, size_t len) {
    int lost = 0;
    adopt(l);
    if (!l->ready)
        return 0;
    bt_etcd_watch_close(&l->watch); /* only waiters need it: no descriptors kept for it */
    if (l->state != BT_ETCD_IDLE && bt_etcd_lease_end(&l->lease, &l->http) &&
        l->state == BT_ETCD_HELD) {
        lost = 1;
        if (why)
            bt_etcd_lease_problem(&l->lease, why, len);
    }
    l->state = BT_ETCD_IDLE;
    l->waiting = 0;
    free(l->key);
    free(l->key_b64);
    l->key = l->key_b64 = NULL;
    backoff_reset(l);
    eventfd_t count;
    eventfd_read(l->lostfd, &count); /* quiet again until the next loss */
    return lost;
}

void bt_etcd_close(bt_etcd_lock *l) {
    adopt(l);
    if (l->ready) {
        bt_etcd_release(l, NULL, 0);
        bt_etcd_watch_free(&l->watch);
        bt_etcd_lease_destroy(&l->lease);
        l->ready = 0;
    }
    bt_etcd_http_free(&l->http);
    bt_etcd_url_free(&l->url);
    if (l->lostfd >= 0)
        close(l->lostfd);
    l->lostfd = -1;
    free(l->from_b64);
    free(l->to_b64);
    free(l->note);
    free(l->value);
    l->from_b64 = l->to_b64 = l->note = l->value = NULL;
}
