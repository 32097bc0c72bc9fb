#define _GNU_SOURCE /* SOCK_CLOEXEC */
#include "bt_etcd_http.h"

#include "../core/errors.h"
#include "bt_etcd_fds.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_BODY (64u << 20) /* a response larger than this is not one we asked for */
#define MAX_CONNECT_MS 2000L /* a silent endpoint must leave time to try the next one */

void bt_etcd_fail(bt_etcd_err *err, const char *code, const char *fmt, ...) {
    va_list ap;
    err->code = code;
    err->grpc = 0;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

void bt_etcd_copy(char *dst, size_t len, const char *src) {
    size_t n = strlen(src);
    if (len == 0)
        return;
    if (n >= len)
        n = len - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static CURLcode init_result = CURLE_FAILED_INIT;

static void global_init(void) {
    init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
    json_object_seed(0); /* before any thread makes JSON objects */
}

int bt_etcd_global_init(void) {
    pthread_once(&once, global_init);
    return init_result == CURLE_OK ? 0 : -1;
}

/* Sockets close on exec: a command started while a lock is held must not inherit them. */
static curl_socket_t open_socket(void *data, curlsocktype purpose, struct curl_sockaddr *a) {
    (void)data;
    (void)purpose;
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

void bt_etcd_curl_defaults(CURL *c, const bt_etcd_url *url, long timeout_ms) {
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM-based timeouts */
    curl_easy_setopt(c, CURLOPT_PROXY, "");    /* never through *_proxy variables */
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    bt_etcd_curl_tls(c, url);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     timeout_ms < MAX_CONNECT_MS ? timeout_ms : MAX_CONNECT_MS);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
}

static size_t on_body(char *data, size_t size, size_t n, void *ud) {
    bt_etcd_http *h = ud;
    size_t more = size * n;
    if (h->len + more + 1 > h->cap) {
        size_t cap = h->cap ? h->cap : 4096;
        while (cap < h->len + more + 1)
            cap *= 2;
        char *buf = cap <= MAX_BODY ? realloc(h->buf, cap) : NULL;
        if (!buf)
            return 0; /* makes curl fail the transfer */
        h->buf = buf;
        h->cap = cap;
    }
    memcpy(h->buf + h->len, data, more);
    h->len += more;
    h->buf[h->len] = '\0';
    return more;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
    const bt_etcd_http *h = ud;
    (void)a, (void)b, (void)c, (void)d;
    return h->cancel && atomic_load(h->cancel);
}

int bt_etcd_http_init(bt_etcd_http *h, const bt_etcd_url *url, long timeout_ms,
                      const atomic_int *cancel) {
    memset(h, 0, sizeof *h);
    h->url = url;
    h->timeout_ms = timeout_ms;
    h->cancel = cancel;
    h->curl = curl_easy_init();
    h->headers = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *more = h->headers ? curl_slist_append(h->headers, "Expect:") : NULL;
    if (!h->curl || !more) {
        bt_etcd_http_free(h);
        return -1;
    }
    h->headers = more;
    bt_etcd_curl_defaults(h->curl, url, timeout_ms);
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, h->curl_err);
    if (cancel) {
        curl_easy_setopt(h->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h->curl, CURLOPT_XFERINFODATA, h);
        curl_easy_setopt(h->curl, CURLOPT_NOPROGRESS, 0L);
    }
    return 0;
}

void bt_etcd_http_free(bt_etcd_http *h) {
    if (h->curl)
        curl_easy_cleanup(h->curl);
    curl_slist_free_all(h->headers);
    curl_slist_free_all(h->auth_headers);
    free(h->buf);
    memset(h, 0, sizeof *h);
}

long long bt_json_i64(const json_t *obj, const char *key) {
    const json_t *v = json_object_get(obj, key);
    if (json_is_integer(v))
        return (long long)json_integer_value(v);
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    return 0;
}

const char *bt_json_cluster(const json_t *resp) {
    const char *id = json_string_value(json_object_get(json_object_get(resp, "header"),
                                                       "cluster_id"));
    return id ? id : "";
}

static const char *curl_code(CURLcode rc) {
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        return "ECONNREFUSED";
    case CURLE_OPERATION_TIMEDOUT:
        return "ETIMEDOUT";
    case CURLE_COULDNT_RESOLVE_HOST:
        return "EHOSTUNREACH";
    case CURLE_ABORTED_BY_CALLBACK:
        return "ECANCELED";
    case CURLE_OUT_OF_MEMORY:
    case CURLE_WRITE_ERROR:
        return "ENOMEM";
    default:
        return "ECONNRESET";
    }
}

/* An error the gateway answered with: {"error": ..., "message": ..., "code": N}, or, from a
 * streaming call, {"error": {"grpc_code": N, "message": ...}}. */
static int server_error(const bt_etcd_http *h, json_t *body, long status, const char *api,
                        bt_etcd_err *err) {
    const json_t *e = json_object_get(body, "error");
    const json_t *where = json_is_object(e) ? e : body;
    const char *msg = json_string_value(json_object_get(where, "message"));
    int grpc = (int)bt_json_i64(where, json_is_object(e) ? "grpc_code" : "code");
    const char *ep = bt_etcd_url_ep(h->url, h->current);
    if (!msg && json_is_string(e))
        msg = json_string_value(e);
    if (!msg) {
        bt_etcd_fail(err, "EPROTO", "etcd at %s answered HTTP %ld to %s: is it an etcd v3 "
                     "server with its JSON gateway?", ep, status, api);
        return BT_ETCD_ERROR;
    }
    bt_etcd_fail(err, grpc == 14 ? "EAGAIN" : "EPROTO", "etcd at %s: %s", ep, msg);
    err->grpc = grpc;
    /* Unavailable (no leader, stopping) and DeadlineExceeded: another member may do better */
    return grpc == 14 || grpc == 4 ? BT_ETCD_DOWN : BT_ETCD_ERROR;
}

const struct curl_slist *bt_etcd_http_headers(const bt_etcd_http *h) {
    return h->token[0] && h->auth_headers ? h->auth_headers : h->headers;
}

/* One request to one endpoint. */
static int post(bt_etcd_http *h, const char *api, const char *body, json_t **resp,
                bt_etcd_err *err) {
    char url[512];
    const char *ep = h->url->base[h->current], *name = bt_etcd_url_ep(h->url, h->current);
    snprintf(url, sizeof url, "%s%s", ep, api);
    h->len = 0;
    h->curl_err[0] = '\0';
    curl_easy_setopt(h->curl, CURLOPT_URL, url);
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, bt_etcd_http_headers(h));
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, h->timeout_ms);
    CURLcode rc;
    if (h->sealed) {
        rc = curl_easy_perform(h->curl);
    } else {
        bt_fds before; /* the first transfer makes the easy handle's inner multi handle */
        bt_fds_note(&before);
        rc = curl_easy_perform(h->curl);
        bt_fds_seal(&before);
        h->sealed = 1;
    }
    if (rc != CURLE_OK) {
        const char *what = h->curl_err[0] ? h->curl_err : curl_easy_strerror(rc);
        if (h->url->tls && bt_etcd_tls_failure(rc)) {
            bt_etcd_fail(err, "ETLS", "TLS with etcd at %s failed: %s", name, what);
            return BT_ETCD_DOWN; /* the next member may be set up right; see bt_etcd_call */
        }
        int closed = rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR || rc == CURLE_GOT_NOTHING;
        const char *hint = "";
        if (closed && h->url->tls && !h->url->cert)
            hint = " (no client certificate was given: a member that requires one closes the "
                   "connection; give cert and key, or set ETCDCTL_CERT and ETCDCTL_KEY)";
        else if (rc == CURLE_GOT_NOTHING && !h->url->tls)
            hint = " (if it serves TLS, write the path as etcds://)";
        bt_etcd_fail(err, curl_code(rc), "etcd at %s is unreachable%s: %s%s", name,
                     h->url->tls ? " over TLS" : "", what, hint);
        return BT_ETCD_DOWN;
    }
    long status = 0;
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
    json_error_t jerr;
    json_t *doc = h->len ? json_loadb(h->buf, h->len, JSON_DISABLE_EOF_CHECK, &jerr) : NULL;
    if (!json_is_object(doc)) {
        json_decref(doc);
        if (h->len && strstr(h->buf, "CommonName of client")) {
            /* etcd's gateway, with client certificates and authentication both on */
            bt_etcd_fail(err, "EACCES", "authentication failed: etcd at %s refuses a client "
                         "certificate with a CommonName on its JSON gateway while "
                         "authentication is enabled; use a client certificate without a CN "
                         "(authenticating by user and password)", name);
            return BT_ETCD_ERROR;
        }
        bt_etcd_fail(err, "EPROTO", "etcd at %s answered HTTP %ld to %s with something that "
                     "is not etcd's JSON: is it an etcd v3 server?", name, status, api);
        return BT_ETCD_ERROR;
    }
    json_t *result = json_object_get(doc, "result");
    const json_t *e = json_object_get(doc, "error");
    if (status != 200 || json_is_object(e) || (json_is_string(e) && json_string_length(e))) {
        int r = server_error(h, doc, status, api, err);
        json_decref(doc);
        return r;
    }
    if (json_is_object(result)) {
        json_incref(result);
        json_decref(doc);
        doc = result;
    }
    *resp = doc;
    return BT_OK;
}

/* The message of an error answer says the token is no good (expired, or the auth store
 * changed since it was issued): authenticate again and repeat the request. */
static int stale_token(const bt_etcd_err *err) {
    return strstr(err->msg, "invalid auth token") != NULL ||
           strstr(err->msg, "revision of auth store is old") != NULL;
}

/* Get a token for the URL's user from the current endpoint (etcd's /v3/auth/authenticate). */
static int authenticate(bt_etcd_http *h, bt_etcd_err *err) {
    const bt_etcd_url *u = h->url;
    json_t *resp = NULL;
    char *body = NULL;
    json_t *req = json_pack("{s:s,s:s}", "name", u->user, "password", u->password);
    if (req)
        body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!body) {
        bt_etcd_fail(err, "ENOMEM", "out of memory building a request to etcd");
        return BT_ETCD_ERROR;
    }
    h->token[0] = '\0';
    int rc = post(h, "/v3/auth/authenticate", body, &resp, err);
    memset(body, 0, strlen(body));
    free(body);
    if (rc == BT_ETCD_ERROR && strstr(err->msg, "authentication is not enabled")) {
        h->auth_off = 1; /* as etcdctl: credentials for a cluster without auth are ignored */
        return BT_OK;
    }
    if (rc == BT_ETCD_ERROR && err->grpc != 0) {
        char why[sizeof err->msg];
        bt_etcd_copy(why, sizeof why, err->msg);
        bt_etcd_fail(err, "EACCES", "authentication failed for user '%.100s' (%.300s)", u->user,
                     why);
        return BT_ETCD_ERROR;
    }
    if (rc != BT_OK)
        return rc;
    const char *token = json_string_value(json_object_get(resp, "token"));
    char line[sizeof h->token + 32];
    if (!token || !token[0] || strlen(token) >= sizeof h->token) {
        json_decref(resp);
        bt_etcd_fail(err, "EPROTO", "etcd at %s gave no usable auth token",
                     bt_etcd_url_ep(u, h->current));
        return BT_ETCD_ERROR;
    }
    snprintf(line, sizeof line, "Authorization: %s", token);
    bt_etcd_copy(h->token, sizeof h->token, token);
    json_decref(resp);
    curl_slist_free_all(h->auth_headers);
    h->auth_headers = NULL;
    for (const struct curl_slist *p = h->headers; p; p = p->next) {
        struct curl_slist *more = curl_slist_append(h->auth_headers, p->data);
        if (!more)
            break;
        h->auth_headers = more;
    }
    struct curl_slist *more = h->auth_headers ? curl_slist_append(h->auth_headers, line) : NULL;
    if (!more) {
        h->token[0] = '\0';
        bt_etcd_fail(err, "ENOMEM", "out of memory");
        return BT_ETCD_ERROR;
    }
    h->auth_headers = more;
    return BT_OK;
}

/* A request with the user's token, getting one first when needed and again when etcd says
 * it has expired. */
static int authorized_post(bt_etcd_http *h, const char *api, const char *body, json_t **resp,
                           bt_etcd_err *err) {
    int with_user = h->url->user != NULL && !h->auth_off;
    if (with_user && !h->token[0]) {
        int rc = authenticate(h, err);
        if (rc != BT_OK)
            return rc;
    }
    int rc = post(h, api, body, resp, err);
    if (rc == BT_ETCD_ERROR && with_user && stale_token(err)) {
        rc = authenticate(h, err);
        if (rc == BT_OK)
            rc = post(h, api, body, resp, err);
    }
    if (rc == BT_ETCD_ERROR && (strstr(err->msg, "user name is empty") ||
                                (!with_user && stale_token(err)))) {
        char why[sizeof err->msg];
        bt_etcd_copy(why, sizeof why, err->msg);
        bt_etcd_fail(err, "EACCES", "authentication failed: the cluster requires a user (%.300s); "
                     "give the user and password options, or set ETCDCTL_USER", why);
    } else if (rc == BT_ETCD_ERROR && strstr(err->msg, "permission denied")) {
        err->code = "EACCES";
    }
    return rc;
}

int bt_etcd_call(bt_etcd_http *h, const char *api, json_t *req, json_t **resp, bt_etcd_err *err) {
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!body) {
        bt_etcd_fail(err, "ENOMEM", "out of memory building a request to etcd");
        return BT_ETCD_ERROR;
    }
    int rc = BT_ETCD_DOWN, n = h->url->n;
    for (int i = 0; i < n; i++) {
        if (h->cancel && atomic_load(h->cancel)) {
            bt_etcd_fail(err, "ECANCELED", "request to etcd at %s cancelled", h->url->endpoints);
            break;
        }
        rc = authorized_post(h, api, body, resp, err);
        if (rc != BT_ETCD_DOWN)
            break;
        atomic_fetch_add(&h->failures, 1);
        h->current = (h->current + 1) % n; /* start there next time too */
    }
    free(body);
    if (rc == BT_ETCD_DOWN && strcmp(err->code, "ETLS") == 0)
        rc = BT_ETCD_ERROR; /* no member would talk TLS with us: waiting will not help */
    if (rc == BT_ETCD_DOWN && n > 1) {
        char all[sizeof err->msg + 600];
        snprintf(all, sizeof all, "no etcd endpoint of %.500s answered; the last: %s",
                 h->url->endpoints, err->msg);
        bt_etcd_copy(err->msg, sizeof err->msg, all);
    }
    return rc;
}
