#include "bt_etcd_watch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/clock.h"
#include "../core/errors.h"
#include "bt_etcd_fds.h"

#define MAX_PENDING (1u << 20) /* one watch message is small; more unsplit bytes is nonsense */

int bt_etcd_watch_init(bt_etcd_watch *w) {
    memset(w, 0, sizeof *w);
    w->headers = curl_slist_append(NULL, "Content-Type: application/json");
    /* "hasleader": a member cut off from its leader ends the stream instead of going quiet */
    struct curl_slist *more = w->headers ? curl_slist_append(w->headers,
                                                             "Grpc-Metadata-hasleader: true") : NULL;
    if (!more) {
        bt_etcd_watch_free(w);
        return -1;
    }
    w->headers = more;
    return 0;
}

/* One message of the stream: {"result": {"created": true} | {"events": [...]} |
 * {"canceled": true, ...}} or {"error": {...}}. Only deletions are asked for (NOPUT). */
static void on_message(bt_etcd_watch *w, const char *line, size_t n) {
    json_error_t jerr;
    json_t *doc = json_loadb(line, n, 0, &jerr);
    json_t *r = json_object_get(doc, "result");
    if (!json_is_object(r) || json_object_get(doc, "error") || json_is_true(json_object_get(r, "canceled")))
        w->ended = 1;
    else if (json_array_size(json_object_get(r, "events")) > 0)
        w->fired = 1;
    json_decref(doc);
}

static size_t on_stream(char *data, size_t size, size_t n, void *ud) {
    bt_etcd_watch *w = ud;
    size_t more = size * n;
    if (w->len + more > MAX_PENDING)
        return 0;
    if (w->len + more > w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 1024;
        while (cap < w->len + more)
            cap *= 2;
        char *buf = realloc(w->buf, cap);
        if (!buf)
            return 0;
        w->buf = buf;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, data, more);
    w->len += more;
    size_t start = 0;
    for (size_t i = 0; i < w->len; i++) {
        if (w->buf[i] == '\n') {
            if (i > start)
                on_message(w, w->buf + start, i - start);
            start = i + 1;
        }
    }
    memmove(w->buf, w->buf + start, w->len - start);
    w->len -= start;
    return more;
}

void bt_etcd_watch_stop(bt_etcd_watch *w) {
    if (w->easy) {
        curl_multi_remove_handle(w->multi, w->easy);
        curl_easy_cleanup(w->easy);
        w->easy = NULL;
    }
    curl_slist_free_all(w->sent);
    w->sent = NULL;
    w->len = 0;
    w->fired = w->ended = 0;
}

void bt_etcd_watch_close(bt_etcd_watch *w) {
    bt_etcd_watch_stop(w);
    if (w->multi)
        curl_multi_cleanup(w->multi);
    w->multi = NULL;
}

void bt_etcd_watch_free(bt_etcd_watch *w) {
    bt_etcd_watch_close(w);
    curl_slist_free_all(w->headers);
    free(w->buf);
    memset(w, 0, sizeof *w);
}

/* The watch's own headers, with the connection's token when it has one. */
static struct curl_slist *headers_for(const bt_etcd_watch *w, const bt_etcd_http *h) {
    struct curl_slist *out = NULL;
    for (const struct curl_slist *p = w->headers; p; p = p->next) {
        struct curl_slist *more = curl_slist_append(out, p->data);
        if (!more)
            goto fail;
        out = more;
    }
    if (h->token[0]) {
        char line[sizeof h->token + 32];
        snprintf(line, sizeof line, "Authorization: %s", h->token);
        struct curl_slist *more = curl_slist_append(out, line);
        if (!more)
            goto fail;
        out = more;
    }
    return out;
fail:
    curl_slist_free_all(out);
    return NULL;
}

int bt_etcd_watch_start(bt_etcd_watch *w, const bt_etcd_http *h, const char *key_b64,
                        long long from, bt_etcd_err *err) {
    char url[512], rev[24];
    const char *base = h->url->base[h->current];
    bt_etcd_watch_stop(w);
    if (!w->multi) {
        bt_fds before;
        bt_fds_note(&before);
        w->multi = curl_multi_init();
        bt_fds_seal(&before); /* its socket pair: see bt_etcd_fds.h */
        if (!w->multi) {
            bt_etcd_fail(err, "ENOMEM", "out of memory starting a watch on etcd");
            return BT_ETCD_ERROR;
        }
    }
    snprintf(url, sizeof url, "%s/v3/watch", base);
    snprintf(rev, sizeof rev, "%lld", from);
    json_t *req = json_pack("{s:{s:s,s:s,s:[s]}}", "create_request", "key", key_b64,
                            "start_revision", rev, "filters", "NOPUT");
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    w->sent = body ? headers_for(w, h) : NULL;
    w->easy = w->sent ? curl_easy_init() : NULL;
    if (!w->easy) {
        free(body);
        bt_etcd_fail(err, "ENOMEM", "out of memory starting a watch on etcd");
        return BT_ETCD_ERROR;
    }
    bt_etcd_curl_defaults(w->easy, h->url, 2000);
    curl_easy_setopt(w->easy, CURLOPT_URL, url);
    curl_easy_setopt(w->easy, CURLOPT_COPYPOSTFIELDS, body);
    curl_easy_setopt(w->easy, CURLOPT_HTTPHEADER, w->sent);
    curl_easy_setopt(w->easy, CURLOPT_WRITEFUNCTION, on_stream);
    curl_easy_setopt(w->easy, CURLOPT_WRITEDATA, w);
    /* a peer that vanishes without a word is noticed by the kernel's probes */
    curl_easy_setopt(w->easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(w->easy, CURLOPT_TCP_KEEPIDLE, 5L);
    curl_easy_setopt(w->easy, CURLOPT_TCP_KEEPINTVL, 2L);
    free(body);
    if (curl_multi_add_handle(w->multi, w->easy) != CURLM_OK) {
        curl_easy_cleanup(w->easy);
        w->easy = NULL;
        bt_etcd_fail(err, "ENOMEM", "cannot start a watch on etcd");
        return BT_ETCD_ERROR;
    }
    w->started = bt_now();
    return BT_OK;
}

int bt_etcd_watch_changed(const bt_etcd_watch *w) { return !w->easy || w->fired || w->ended; }

/* Let curl move the transfer along; note when it is over. */
static void drive(bt_etcd_watch *w) {
    int running = 0, left = 0;
    curl_multi_perform(w->multi, &running);
    CURLMsg *m;
    while ((m = curl_multi_info_read(w->multi, &left)) != NULL)
        if (m->msg == CURLMSG_DONE)
            w->ended = 1;
}

int bt_etcd_watch_wait(bt_etcd_watch *w, double seconds) {
    if (!w->easy)
        return 1;
    double deadline = bt_now() + (seconds > 0 ? seconds : 0);
    for (;;) {
        drive(w);
        if (bt_etcd_watch_changed(w))
            return 1;
        double left = deadline - bt_now();
        if (left <= 0)
            return 0;
        int ms = left > 3600 ? 3600000 : (int)ceil(left * 1000);
        curl_multi_poll(w->multi, NULL, 0, ms, NULL);
    }
}

int bt_etcd_watch_fd(const bt_etcd_watch *w) {
    curl_socket_t s = CURL_SOCKET_BAD;
    if (!w->easy || curl_easy_getinfo(w->easy, CURLINFO_ACTIVESOCKET, &s) != CURLE_OK)
        return -1;
    return s == CURL_SOCKET_BAD ? -1 : (int)s;
}
