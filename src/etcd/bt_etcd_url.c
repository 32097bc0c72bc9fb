/* Parsing etcd lock paths. Strict on purpose: a typo in a host or port must not turn into a
 * lock on some other server, and TLS must not silently fall back to plain HTTP. */
#include "bt_etcd_url.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *why, size_t whylen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return -1;
}

static char *dup_range(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static int host_char(int c) { return isalnum(c) || c == '.' || c == '-' || c == '_'; }

/* One "HOST[:PORT]" (HOST may be "[v6 address]"): writes "HOST:PORT" into out. */
static int parse_endpoint(const char *s, size_t n, char *out, size_t outlen, char *why,
                          size_t whylen) {
    size_t i = 0, host_end;
    if (n == 0)
        return fail(why, whylen, "an empty endpoint in the list");
    if (s[0] == '[') {
        while (i < n && s[i] != ']')
            i++;
        if (i == n)
            return fail(why, whylen, "an unclosed '[' in endpoint '%.*s'", (int)n, s);
        for (size_t j = 1; j < i; j++)
            if (!isxdigit((unsigned char)s[j]) && s[j] != ':' && s[j] != '.')
                return fail(why, whylen, "a bad IPv6 address in endpoint '%.*s'", (int)n, s);
        host_end = ++i;
    } else {
        while (i < n && host_char((unsigned char)s[i]))
            i++;
        host_end = i;
        if (host_end == 0)
            return fail(why, whylen, "endpoint '%.*s' has no host", (int)n, s);
    }
    long port = BT_ETCD_DEFAULT_PORT;
    if (i < n) {
        if (s[i] != ':')
            return fail(why, whylen, "unexpected '%c' in endpoint '%.*s'", s[i], (int)n, s);
        i++;
        if (i == n)
            return fail(why, whylen, "endpoint '%.*s' has an empty port", (int)n, s);
        port = 0;
        for (; i < n; i++) {
            if (!isdigit((unsigned char)s[i]) || port > 65535)
                return fail(why, whylen, "endpoint '%.*s' has a bad port", (int)n, s);
            port = port * 10 + (s[i] - '0');
        }
        if (port < 1 || port > 65535)
            return fail(why, whylen, "endpoint '%.*s' has a port out of range", (int)n, s);
    }
    if (host_end + 8 >= outlen)
        return fail(why, whylen, "endpoint '%.*s' is too long", (int)n, s);
    snprintf(out, outlen, "%.*s:%ld", (int)host_end, s, port);
    return 0;
}

static int parse_endpoints(const char *s, size_t n, bt_etcd_url *u, char *why, size_t whylen) {
    char one[300];
    size_t start = 0;
    while (start <= n) {
        size_t end = start;
        while (end < n && s[end] != ',')
            end++;
        if (u->n == BT_ETCD_MAX_ENDPOINTS)
            return fail(why, whylen, "more than %d endpoints", BT_ETCD_MAX_ENDPOINTS);
        if (parse_endpoint(s + start, end - start, one, sizeof one, why, whylen) != 0)
            return -1;
        size_t len = strlen(one);
        u->base[u->n] = malloc(len + 8);
        if (!u->base[u->n])
            return fail(why, whylen, "out of memory");
        snprintf(u->base[u->n], len + 8, "http://%s", one);
        u->n++;
        start = end + 1;
    }
    u->endpoints = dup_range(s, n);
    return u->endpoints ? 0 : fail(why, whylen, "out of memory");
}

int bt_etcd_url_parse(const char *path, bt_etcd_url *u, char *why, size_t whylen) {
    memset(u, 0, sizeof *u);
    if (strncmp(path, "etcds://", 8) == 0 || strncmp(path, "https://", 8) == 0)
        return fail(why, whylen, "TLS is not configured: baton speaks plain HTTP to etcd; use "
                                 "etcd://HOST:PORT/NAME on a trusted network or through a local "
                                 "TLS proxy");
    if (strncmp(path, "etcd://", 7) != 0)
        return fail(why, whylen, "an etcd lock path looks like etcd://HOST:PORT/NAME");
    const char *auth = path + 7, *slash = strchr(auth, '/');
    if (!slash)
        return fail(why, whylen, "no lock name: expected etcd://HOST:PORT/NAME");
    if (slash[1] == '\0')
        return fail(why, whylen, "the lock name after '%.*s/' is empty", (int)(slash - path), path);
    if (parse_endpoints(auth, (size_t)(slash - auth), u, why, whylen) != 0) {
        bt_etcd_url_free(u);
        return -1;
    }
    size_t nlen = strlen(slash + 1);
    u->name = dup_range(slash + 1, nlen);
    u->prefix = malloc(nlen + 2);
    if (!u->name || !u->prefix) {
        bt_etcd_url_free(u);
        return fail(why, whylen, "out of memory");
    }
    snprintf(u->prefix, nlen + 2, "%s/", u->name);
    return 0;
}

void bt_etcd_url_free(bt_etcd_url *u) {
    for (int i = 0; i < u->n; i++)
        free(u->base[i]);
    free(u->endpoints);
    free(u->name);
    free(u->prefix);
    memset(u, 0, sizeof *u);
}
