/* Who holds an etcd lock: the key with the lowest create revision under the lock's prefix,
 * and the record its holder stored as the value. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/errors.h"
#include "bt_etcd.h"
#include "bt_etcd_b64.h"

static void copy_string(char *dst, size_t len, const json_t *obj, const char *key) {
    const char *v = json_string_value(json_object_get(obj, key));
    snprintf(dst, len, "%s", v ? v : "");
}

/* Fill in what the holder's record says; a key without one (etcdctl's) just has no details. */
static void read_record(const json_t *kv, bt_etcd_holder *out) {
    const char *v = json_string_value(json_object_get(kv, "value"));
    size_t n;
    char *text = v ? bt_b64_decode(v, &n) : NULL;
    json_error_t jerr;
    json_t *doc = text ? json_loadb(text, n, 0, &jerr) : NULL;
    free(text);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return;
    }
    copy_string(out->host, sizeof out->host, doc, "host");
    copy_string(out->note, sizeof out->note, doc, "note");
    out->pid = bt_json_i64(doc, "pid");
    out->since = json_number_value(json_object_get(doc, "since"));
    out->shared = json_is_true(json_object_get(doc, "shared"));
    json_decref(doc);
}

static int first_key(bt_etcd_http *h, const bt_etcd_url *url, bt_etcd_holder *out,
                     bt_etcd_err *err) {
    size_t plen = strlen(url->prefix);
    char *end = strdup(url->prefix);
    char *from = bt_b64_encode(url->prefix, plen), *to = NULL;
    if (end) {
        end[plen - 1]++;
        to = bt_b64_encode(end, plen);
    }
    free(end);
    json_t *req = from && to ? json_pack("{s:s,s:s,s:s,s:s,s:i}", "key", from, "range_end", to,
                                         "sort_target", "CREATE", "sort_order", "ASCEND",
                                         "limit", 1)
                             : NULL;
    free(from);
    free(to);
    json_t *resp = NULL;
    int rc = bt_etcd_call(h, "/v3/kv/range", req, &resp, err);
    if (rc != BT_OK)
        return rc;
    const json_t *kv = json_array_get(json_object_get(resp, "kvs"), 0);
    const char *key = json_string_value(json_object_get(kv, "key"));
    if (!key) {
        json_decref(resp);
        return 0;
    }
    size_t n;
    char *name = bt_b64_decode(key, &n);
    snprintf(out->key, sizeof out->key, "%s", name ? name : "");
    free(name);
    out->token = bt_json_i64(kv, "create_revision");
    out->lease = bt_json_i64(kv, "lease");
    out->queued = (int)bt_json_i64(resp, "count");
    out->revision = bt_json_i64(json_object_get(resp, "header"), "revision");
    const char *v = json_string_value(json_object_get(kv, "value"));
    out->value = v && v[0] ? bt_b64_decode(v, &out->value_len) : NULL;
    read_record(kv, out);
    json_decref(resp);
    return 1;
}

int bt_etcd_holder_of(const char *path, const bt_etcd_conf *conf, bt_etcd_holder *out,
                      bt_etcd_err *err) {
    bt_etcd_url url;
    bt_etcd_http h;
    char why[256];
    memset(out, 0, sizeof *out);
    if (bt_etcd_url_parse(path, &url, why, sizeof why) != 0 ||
        bt_etcd_url_configure(&url, conf, why, sizeof why) != 0) {
        bt_etcd_url_free(&url);
        bt_etcd_fail(err, "EINVAL", "%s", why);
        return BT_ETCD_ERROR;
    }
    if (bt_etcd_http_init(&h, &url, 5000, NULL) != 0) {
        bt_etcd_url_free(&url);
        bt_etcd_fail(err, "ENOMEM", "out of memory");
        return BT_ETCD_ERROR;
    }
    int rc = first_key(&h, &url, out, err);
    bt_etcd_http_free(&h);
    bt_etcd_url_free(&url);
    return rc;
}
