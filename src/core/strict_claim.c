/* filelock-strict-v1's claims (strict_claim.h), alike on every platform. */
#include "strict_claim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soft_lock.h"

#define MAGIC "filelock-strict-v1"

static int is_hex(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

void bt_strict_init(bt_strict *l, mode_t mode, int make_parents) {
    memset(l, 0, sizeof *l);
    l->claims = -1;
    l->mode = mode;
    l->make_parents = make_parents;
}

int bt_claim_state(const char *name, const char **token) {
    int held = strncmp(name, "held-v1-", 8) == 0;
    size_t skip = held ? 8 : strncmp(name, "intent-v1-", 10) == 0 ? 10 : 0;
    if (!skip || strlen(name) != skip + 32 + 6 || strcmp(name + skip + 32, ".claim") != 0 ||
        !is_hex(name + skip, 32))
        return -1;
    if (token)
        *token = name + skip;
    return held;
}

void bt_claim_private_name(char *out, size_t cap, const char *name) {
    unsigned long long a = bt_soft_random(), b = bt_soft_random();
    snprintf(out, cap, ".%s.private-v1-%016llx%016llx.tmp", name, a, b);
}

int bt_claim_is_private(const char *name) {
    const char *m = strstr(name, ".private-v1-");
    if (name[0] != '.' || !m)
        return 0;
    char pub[80];
    size_t n = (size_t)(m - name - 1);
    if (n >= sizeof pub)
        return 0;
    memcpy(pub, name + 1, n);
    pub[n] = '\0';
    return bt_claim_state(pub, NULL) >= 0 && strlen(m) == 12 + 32 + 4 &&
           strcmp(m + 12 + 32, ".tmp") == 0;
}

size_t bt_claim_record(char *buf, size_t cap, const char *token, long pid, const char *host,
                       const char *start) {
    char hex[2 * BT_HOST_LEN + 1];
    size_t i = 0;
    for (; host[i] && 2 * i + 2 < sizeof hex; i++)
        snprintf(hex + 2 * i, 3, "%02x", (unsigned char)host[i]);
    hex[2 * i] = '\0';
    int n = snprintf(buf, cap, MAGIC "\n%s\n%ld\n%s\n%s\n", token, pid, hex, start);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

static int nibble(char c) {
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static int from_hex(const char *s, size_t n, char *out, size_t cap) {
    if (n % 2 || n / 2 >= cap || !is_hex(s, n))
        return -1;
    for (size_t i = 0; i < n / 2; i++) /* digits checked above; s is not NUL-terminated */
        out[i] = (char)(nibble(s[2 * i]) << 4 | nibble(s[2 * i + 1]));
    out[n / 2] = '\0';
    return 0;
}

void bt_claim_parse(const char *buf, size_t n, bt_claim *c) {
    const char *f[6];
    size_t len[6], count = 0;
    const char *p = buf, *end = buf + n;
    while (p < end && count < 6) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return;
        f[count] = p;
        len[count++] = (size_t)(nl - p);
        p = nl + 1;
    }
    if (count != 5 || p != end || len[0] != strlen(MAGIC) || memcmp(f[0], MAGIC, len[0]) != 0 ||
        len[1] != 32 || memcmp(f[1], c->token, 32) != 0 || len[2] == 0 || len[2] > 10 ||
        len[4] >= BT_TOKEN_LEN || from_hex(f[3], len[3], c->host, sizeof c->host) != 0)
        return;
    char pid[12];
    memcpy(pid, f[2], len[2]);
    pid[len[2]] = '\0';
    char *e;
    c->pid = strtol(pid, &e, 10);
    if (*e || c->pid < 1 || c->pid > 2147483647L)
        return;
    memcpy(c->start, f[4], len[4]);
    c->start[len[4]] = '\0';
    c->valid = 1;
}

int bt_claim_sentinel(const char *buf, size_t n, bt_err *err) {
    bt_marker m;
    if (bt_marker_is_sentinel(buf, n))
        return BT_OK;
    if (n == 0 || (n <= BT_MARKER_MAX && bt_marker_parse(buf, n, &m)))
        return BT_BUSY;
    return bt_fail(err, "use", EEXIST,
                   "the file there holds other data, not a strict lock's sentinel, and is left alone");
}

void bt_claim_count(bt_claim_scan *s, const char *name, int held, const char *token,
                    const char *mine) {
    s->n++;
    s->any_held |= held;
    if (!s->least_name[0] || strcmp(name, s->least_name) < 0)
        memcpy(s->least_name, name, strlen(name) + 1); /* a claim name: under 64 */
    const char *key = token - 3; /* "v1-TOKEN.claim" */
    if (!s->least_key[0] || strcmp(key, s->least_key) < 0)
        memcpy(s->least_key, key, strlen(key) + 1);
    if (mine && strncmp(token, mine, 32) == 0) {
        if (held)
            s->has_held = 1;
        else
            s->has_intent = 1;
    }
}

int bt_claim_doorway(const bt_claim_ops *ops, void *k, bt_strict *l, long pid, const char *host,
                     const char *start, bt_err *err) {
    bt_claim_scan s;
    if (ops->scan(k, NULL, &s, err) != BT_OK)
        return BT_FAIL;
    if (s.n > 0)
        return BT_BUSY;
    char token[33], record[BT_CLAIM_RECORD_MAX];
    snprintf(token, sizeof token, "%016llx%016llx", bt_soft_random(), bt_soft_random());
    snprintf(l->intent, sizeof l->intent, "intent-v1-%s.claim", token);
    snprintf(l->held, sizeof l->held, "held-v1-%s.claim", token);
    size_t len = bt_claim_record(record, sizeof record, token, pid, host, start);
    if (ops->publish(k, l->intent, record, len, l->mode) != 0)
        return errno == EEXIST ? BT_BUSY : bt_fail(err, "publish a claim for", errno, NULL);
    int r = ops->scan(k, token, &s, err);
    if (r == BT_OK && (s.n == 0 || s.any_held || strcmp(s.least_name, l->intent) != 0))
        r = BT_BUSY;
    if (r == BT_OK && ops->link(k, l->intent, l->held) != 0)
        r = errno == EEXIST ? BT_BUSY : bt_fail(err, "publish a held claim for", errno, NULL);
    if (r == BT_OK && ops->scan(k, token, &s, err) != BT_OK)
        r = BT_FAIL;
    char key[64];
    snprintf(key, sizeof key, "v1-%s.claim", token);
    if (r == BT_OK && (!s.has_intent || !s.has_held || strcmp(s.least_key, key) != 0))
        r = BT_BUSY;
    if (r != BT_OK) {
        ops->unlink(k, l->held);
        ops->unlink(k, l->intent);
    }
    return r;
}
