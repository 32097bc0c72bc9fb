/* Requests to etcd's JSON gateway (POST /v3/...) over libcurl, moving on to the next
 * endpoint of the lock's URL when one is unreachable, slow or without a leader. One
 * connection per thread: a bt_etcd_http is never shared between threads. */
#ifndef BT_ETCD_HTTP_H
#define BT_ETCD_HTTP_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdatomic.h>

#include "bt_etcd_url.h"

/* What a request or a lock operation returns besides BT_OK / BT_BUSY (bt_errors.h). */
enum {
    BT_ETCD_DOWN = -2,  /* no endpoint answered: unreachable, timed out, or without a leader */
    BT_ETCD_ERROR = -3, /* an endpoint answered with an error or something unreadable */
    BT_ETCD_LOST = -4   /* our lease is gone: the lock (or the place in its queue) was lost */
};

typedef struct bt_etcd_err {
    const char *code; /* "ECONNREFUSED", "ETIMEDOUT", "EPROTO", "lost", ...: a static string */
    int grpc;         /* the gRPC status code an endpoint answered with; 0 when none */
    char msg[480];    /* what happened, naming the endpoint */
} bt_etcd_err;

void bt_etcd_fail(bt_etcd_err *err, const char *code, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Copy a string into a buffer of `len` bytes, cutting it short if need be. */
void bt_etcd_copy(char *dst, size_t len, const char *src);

typedef struct bt_etcd_http {
    CURL *curl;
    struct curl_slist *headers;
    const bt_etcd_url *url;
    int current;              /* the endpoint that answered last */
    long timeout_ms;          /* for a whole request to one endpoint */
    const atomic_int *cancel; /* when set and non-zero, transfers stop early */
    char *buf;                /* the response body */
    size_t len, cap;
    char curl_err[CURL_ERROR_SIZE];
    int sealed;               /* curl's inner socket pair was made close-on-exec */
    struct curl_slist *auth_headers; /* headers + "Authorization: <token>" */
    char token[512];          /* etcd's auth token for this connection; "" before one */
    int auth_off;             /* a user was given but the cluster has no authentication */
    atomic_int failures;      /* endpoints that did not answer, counted (other threads read) */
} bt_etcd_http;

/* Set libcurl up once per process (the module's loader calls it). Returns 0 on success. */
int bt_etcd_global_init(void);

/* Options every baton transfer uses: no signals, no proxies, close-on-exec sockets, and the
 * URL's TLS settings (bt_etcd_tls.c). */
void bt_etcd_curl_defaults(CURL *c, const bt_etcd_url *url, long timeout_ms);

/* TLS settings for a transfer: certificates and verification from the URL (bt_etcd_tls.c). */
void bt_etcd_curl_tls(CURL *c, const bt_etcd_url *url);

/* Whether a libcurl failure is about certificates or the TLS handshake: a mistake in the
 * configuration, not a member that is down. */
int bt_etcd_tls_failure(CURLcode rc);

int bt_etcd_http_init(bt_etcd_http *h, const bt_etcd_url *url, long timeout_ms,
                      const atomic_int *cancel);
void bt_etcd_http_free(bt_etcd_http *h);

/* POST `req` (consumed, may be NULL after a failed json_pack) to API path `api` such as
 * "/v3/kv/range". BT_OK with *resp (the response, its "result" unwrapped) to json_decref,
 * or BT_ETCD_DOWN / BT_ETCD_ERROR with *err filled in. */
int bt_etcd_call(bt_etcd_http *h, const char *api, json_t *req, json_t **resp, bt_etcd_err *err);

/* The headers a request on this connection sends (its auth token included), for a watch. */
const struct curl_slist *bt_etcd_http_headers(const bt_etcd_http *h);

/* The gateway writes 64-bit numbers as strings and leaves zero values out: read either. */
long long bt_json_i64(const json_t *obj, const char *key);

/* The "header.cluster_id" of a response, as text ("" when missing). */
const char *bt_json_cluster(const json_t *resp);

#endif
