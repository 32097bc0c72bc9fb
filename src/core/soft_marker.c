/* The soft-lock marker format: parse and write "pid\nhost\ntoken\n" (soft_marker.h). */
#include "soft_marker.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PID 2147483647L
#define PROTOCOL2 "filelock/2"

/* The ASCII characters Python's str.strip() removes. */
static int is_strip(unsigned char c) {
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

/* The ASCII line ends Python's str.splitlines() knows ("\r\n" counts once). */
static int is_line_end(unsigned char c) {
    return c == '\n' || c == '\r' || c == '\v' || c == '\f' || (c >= 0x1c && c <= 0x1e);
}

typedef struct line {
    const char *s;
    size_t n;
} line;

/* Split into at most `max` lines; returns how many, or max + 1 when there are more. */
static size_t split_lines(const char *p, const char *end, line *out, size_t max) {
    size_t count = 0;
    while (p < end) {
        const char *start = p;
        while (p < end && !is_line_end((unsigned char)*p))
            p++;
        if (count == max)
            return max + 1;
        out[count].s = start;
        out[count].n = (size_t)(p - start);
        count++;
        if (p < end) {
            if (*p == '\r' && p + 1 < end && p[1] == '\n')
                p++;
            p++;
        }
    }
    return count;
}

static int parse_pid(const char *s, size_t n, long *pid) {
    unsigned long long v = 0; /* 10 digits fit; long may be 32 bits (Windows) */
    if (n == 0 || n > 10)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > (unsigned long long)MAX_PID)
        return -1;
    *pid = (long)v;
    return 0;
}

/* Decimal digits, kept without leading zeros so that equal numbers compare equal. */
static int parse_token(const char *s, size_t n, char out[BT_TOKEN_LEN]) {
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return -1;
    while (n > 1 && *s == '0') {
        s++;
        n--;
    }
    if (n >= BT_TOKEN_LEN)
        return -1;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

static void set_host(bt_marker *m, const char *s, size_t n) {
    size_t keep = n < BT_HOST_LEN - 1 ? n : BT_HOST_LEN - 1;
    memcpy(m->host, s, keep);
    m->host[keep] = '\0';
    m->host_len = n;
}

static int field_is(const line *l, const char *key, line *value) {
    size_t k = strlen(key);
    if (l->n <= k || memcmp(l->s, key, k) != 0 || l->s[k] != '=')
        return 0;
    value->s = l->s + k + 1;
    value->n = l->n - k - 1;
    return 1;
}

/* Protocol 2: key=value lines after the header; pid, host and mode are required and
 * unknown keys are ignored, as filelock reads them. */
/* A lease's duration as Python's float() reads it: finite and above 0, else malformed. */
static int parse_duration(const char *s, size_t n, double *out) {
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end;
    double v = strtod(buf, &end);
    if (*end != '\0' || !isfinite(v) || !(v > 0))
        return -1;
    *out = v;
    return 0;
}

static int parse_protocol2(const line *lines, size_t count, bt_marker *out) {
    int have_pid = 0, have_host = 0, have_mode = 0, have_claim = 0, have_duration = 0;
    out->token[0] = '\0';
    out->mode = BT_MARKER_OTHER;
    out->duration = 0;
    for (size_t i = 1; i < count; i++) {
        line v;
        if (!memchr(lines[i].s, '=', lines[i].n))
            return 0;
        if (field_is(&lines[i], "pid", &v)) {
            if (parse_pid(v.s, v.n, &out->pid) != 0)
                return 0;
            have_pid = 1;
        } else if (field_is(&lines[i], "host", &v)) {
            if (v.n == 0)
                return 0;
            set_host(out, v.s, v.n);
            have_host = 1;
        } else if (field_is(&lines[i], "start", &v)) {
            if (parse_token(v.s, v.n, out->token) != 0)
                return 0;
        } else if (field_is(&lines[i], "mode", &v)) {
            have_mode = 1;
            out->mode = v.n == 5 && memcmp(v.s, "lease", 5) == 0 ? BT_MARKER_LEASE : BT_MARKER_OTHER;
        } else if (field_is(&lines[i], "token", &v)) {
            have_claim = 1;
        } else if (field_is(&lines[i], "duration", &v)) {
            if (parse_duration(v.s, v.n, &out->duration) != 0)
                return 0;
            have_duration = 1;
        }
    }
    /* a lease without its claim or its duration states no contract: malformed */
    if (out->mode == BT_MARKER_LEASE && (!have_claim || !have_duration))
        return 0;
    return have_pid && have_host && have_mode;
}

int bt_marker_parse(const char *buf, size_t len, bt_marker *out) {
    if (len > BT_MARKER_MAX)
        return 0;
    const char *p = buf, *end = buf + len;
    while (p < end && is_strip((unsigned char)*p))
        p++;
    while (end > p && is_strip((unsigned char)end[-1]))
        end--;
    line lines[16];
    size_t count = split_lines(p, end, lines, 16);
    if (count > 16)
        return 0;
    if (count >= 1 && lines[0].n == strlen(PROTOCOL2) && memcmp(lines[0].s, PROTOCOL2, lines[0].n) == 0)
        return parse_protocol2(lines, count, out);
    if (count != 2 && count != 3)
        return 0;
    if (parse_pid(lines[0].s, lines[0].n, &out->pid) != 0 || lines[1].n == 0)
        return 0;
    set_host(out, lines[1].s, lines[1].n);
    out->token[0] = '\0';
    out->mode = BT_MARKER_PLAIN;
    out->duration = 0;
    if (count == 3 && parse_token(lines[2].s, lines[2].n, out->token) != 0)
        return 0;
    return 1;
}

size_t bt_marker_format(char *buf, size_t cap, long pid, const char *host, const char *token) {
    int n = token[0] ? snprintf(buf, cap, "%ld\n%s\n%s\n", pid, host, token)
                     : snprintf(buf, cap, "%ld\n%s\n", pid, host);
    if (n < 0 || (size_t)n >= cap)
        return 0;
    return (size_t)n;
}

int bt_marker_is_sentinel(const char *buf, size_t len) {
    return len == BT_STRICT_SENTINEL_LEN && memcmp(buf, BT_STRICT_SENTINEL, len) == 0;
}

void bt_marker_duration(char *buf, size_t cap, double v) {
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

size_t bt_marker_format_lease(char *buf, size_t cap, long pid, const char *host,
                              const char *claim, double duration, const char *start) {
    char d[40];
    bt_marker_duration(d, sizeof d, duration);
    int n = snprintf(buf, cap, "filelock/2\npid=%ld\nhost=%s\nmode=lease\ntoken=%s\n"
                     "duration=%s\n%s%s%s", pid, host, claim, d, start[0] ? "start=" : "",
                     start, start[0] ? "\n" : "");
    if (n < 0 || (size_t)n >= cap)
        return 0;
    return (size_t)n;
}

int bt_marker_lease_mismatch(char *out, size_t cap, double theirs, double ours) {
    if (theirs == ours)
        return 0;
    char a[40], b[40];
    bt_marker_duration(a, sizeof a, theirs);
    bt_marker_duration(b, sizeof b, ours);
    snprintf(out, cap, "it holds a lease of %s s but this lock's lease is %s s: every contender "
                       "for a path must agree on the lease", a, b);
    return 1;
}

int bt_marker_parse_rw(const char *buf, size_t n, char token[33], long *pid, char *host,
                       size_t cap) {
    if (n < 36 || n > BT_RW_MARKER_MAX || buf[32] != '\n')
        return 0;
    for (int i = 0; i < 32; i++)
        if (!((buf[i] >= '0' && buf[i] <= '9') || (buf[i] >= 'a' && buf[i] <= 'f')))
            return 0;
    const char *p = buf + 33, *end = buf + n;
    if (*p < '1' || *p > '9')
        return 0;
    long long v = 0;
    while (p < end && *p >= '0' && *p <= '9' && p - (buf + 33) < 11)
        v = v * 10 + (*p++ - '0'); /* 11 digits at most: never near overflow */
    if (p == end || *p != '\n' || p - (buf + 33) > 10 || v > MAX_PID)
        return 0; /* above the largest pid: never narrowed into another (long may be 32 bits) */
    const char *h = ++p;
    while (p < end && *p > 0x20 && *p < 0x7f)
        p++;
    size_t hlen = (size_t)(p - h);
    if (hlen == 0 || hlen > 253)
        return 0;
    while (p < end && *p == '\n')
        p++;
    if (p != end)
        return 0;
    memcpy(token, buf, 32);
    token[32] = '\0';
    if (pid)
        *pid = (long)v;
    if (host && cap) {
        size_t k = hlen < cap ? hlen : cap - 1;
        memcpy(host, h, k);
        host[k] = '\0';
    }
    return 1;
}
