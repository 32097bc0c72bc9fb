/* A watch on one key for its deletion, through the gateway's streaming POST /v3/watch: one
 * long-lived connection that the waiter drives without blocking (a libcurl multi handle),
 * so waits can be bounded, cooperative, or polled by an event loop. */
#ifndef BT_ETCD_WATCH_H
#define BT_ETCD_WATCH_H

#include <curl/curl.h>

#include "bt_etcd_http.h"

typedef struct bt_etcd_watch {
    CURLM *multi;               /* made by the first watch, closed on release */
    CURL *easy;                 /* the running watch; NULL when none */
    struct curl_slist *headers;
    struct curl_slist *sent;    /* headers of the running watch: the above and the token */
    char *buf;                  /* stream bytes not yet split into messages */
    size_t len, cap;
    double started;             /* CLOCK_MONOTONIC */
    int fired;                  /* the key was deleted */
    int ended;                  /* the stream ended, failed or was cancelled: look afresh */
} bt_etcd_watch;

int bt_etcd_watch_init(bt_etcd_watch *w);

/* Watch `key_b64` at the endpoint connection `h` used last (with its TLS settings and auth
 * token) for a deletion at revision `from` or later, replacing any earlier watch. Returns
 * BT_OK, or BT_ETCD_ERROR (out of memory). */
int bt_etcd_watch_start(bt_etcd_watch *w, const bt_etcd_http *h, const char *key_b64,
                        long long from, bt_etcd_err *err);

/* 1 when no watch runs, or it fired or ended: the lock's state must be looked at again. */
int bt_etcd_watch_changed(const bt_etcd_watch *w);

/* Drive the watch for up to `seconds` (0: only what is ready). Returns bt_etcd_watch_changed. */
int bt_etcd_watch_wait(bt_etcd_watch *w, double seconds);

/* The watch's socket, for an event loop to poll; -1 before it is connected or when none. */
int bt_etcd_watch_fd(const bt_etcd_watch *w);

/* End the watch; _close also lets go of the connection (made again by the next start). */
void bt_etcd_watch_stop(bt_etcd_watch *w);
void bt_etcd_watch_close(bt_etcd_watch *w);
void bt_etcd_watch_free(bt_etcd_watch *w);

#endif
