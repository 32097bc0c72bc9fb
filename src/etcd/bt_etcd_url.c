/* Parsing etcd lock paths. Strict on purpose: a typo in a host or port must not turn into a
 * lock on some other server, and TLS must not silently fall back to plain HTTP. */
#define _POSIX_C_SOURCE 200809L /* strdup */
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
        u->base[u->n] = malloc(len + 9);
        if (!u->base[u->n])
            return fail(why, whylen, "out of memory");
        snprintf(u->base[u->n], len + 9, "%s://%s", u->tls ? "https" : "http", one);
        u->n++;
        start = end + 1;
    }
    u->endpoints = dup_range(s, n);
    return u->endpoints ? 0 : fail(why, whylen, "out of memory");
}

int bt_etcd_url_parse(const char *path, bt_etcd_url *u, char *why, size_t whylen) {
    memset(u, 0, sizeof *u);
    if (strncmp(path, "https://", 8) == 0 || strncmp(path, "http://", 7) == 0)
        return fail(why, whylen, "an etcd lock path looks like etcd://HOST:PORT/NAME, or "
                                 "etcds://HOST:PORT/NAME for TLS");
    u->tls = strncmp(path, "etcds://", 8) == 0;
    if (!u->tls && strncmp(path, "etcd://", 7) != 0)
        return fail(why, whylen, "an etcd lock path looks like etcd://HOST:PORT/NAME");
    const char *auth = path + (u->tls ? 8 : 7), *slash = strchr(auth, '/');
    if (!slash)
        return fail(why, whylen, "no lock name: expected etcd://HOST:PORT/NAME");
    if (slash == auth)
        return fail(why, whylen, "no endpoints before the lock name (and ETCDCTL_ENDPOINTS "
                                 "is not set)");
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

static int copy_opt(char **dst, const char *src) {
    *dst = src && src[0] ? strdup(src) : NULL;
    return !src || !src[0] || *dst ? 0 : -1;
}

int bt_etcd_url_configure(bt_etcd_url *u, const bt_etcd_conf *conf, char *why, size_t whylen) {
    if (!conf)
        return 0;
    int certs = (conf->cacert && conf->cacert[0]) || (conf->cert && conf->cert[0]) ||
                (conf->key && conf->key[0]) || conf->insecure;
    if (certs && !u->tls)
        return fail(why, whylen, "certificates (cacert, cert, key, insecure) are for TLS: "
                                 "write the path as etcds://");
    if ((conf->cert && conf->cert[0]) != (conf->key && conf->key[0]))
        return fail(why, whylen, "a client certificate needs both 'cert' and 'key'");
    if ((conf->user && conf->user[0]) && !conf->password)
        return fail(why, whylen, "user '%s' has no password", conf->user);
    if (copy_opt(&u->cacert, conf->cacert) || copy_opt(&u->cert, conf->cert) ||
        copy_opt(&u->key, conf->key) || copy_opt(&u->user, conf->user) ||
        (conf->user && conf->user[0] && !(u->password = strdup(conf->password))))
        return fail(why, whylen, "out of memory");
    u->insecure = conf->insecure;
    return 0;
}

const char *bt_etcd_url_ep(const bt_etcd_url *u, int i) {
    const char *b = u->base[i];
    return b + (strncmp(b, "https://", 8) == 0 ? 8 : 7);
}

void bt_etcd_url_free(bt_etcd_url *u) {
    free(u->cacert);
    free(u->cert);
    free(u->key);
    free(u->user);
    if (u->password) {
        memset(u->password, 0, strlen(u->password));
        free(u->password);
    }
    for (int i = 0; i < u->n; i++)
        free(u->base[i]);
    free(u->endpoints);
    free(u->name);
    free(u->prefix);
    memset(u, 0, sizeof *u);
}
