/* Soft-lock markers (bt_marker_parse, and bt_marker_parse_rw for soft read/write locks'):
 * any bytes a marker file may hold, written by baton, Python filelock or anything else.
 * Beyond memory safety: what is accepted is a valid owner, and an owner written back with
 * bt_marker_format reads the same. */
#include <stdint.h>
#include <string.h>

#include "../src/core/soft_marker.h"
#include "check.h"

static int is_digits(const char *s) {
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* The characters Python's str.strip() takes off the end of a marker. */
static int is_strip(unsigned char c) {
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

/* A soft read/write lock's marker: a token of 32 hex digits, a pid, a host cut to fit. */
static void check_rw(const char *data, size_t size) {
    char token[33], host[16];
    long pid = 0;
    if (!bt_marker_parse_rw(data, size, token, &pid, host, sizeof host))
        return;
    CHECK(size <= BT_RW_MARKER_MAX && strlen(token) == 32 && strlen(host) < sizeof host);
    CHECK(pid >= 1 && pid <= 9999999999L && host[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bt_marker m;
    check_rw((const char *)data, size);
    if (!bt_marker_parse((const char *)data, size, &m))
        return 0;
    CHECK(size <= BT_MARKER_MAX);
    CHECK(m.pid >= 1 && m.pid <= 2147483647L);
    CHECK(m.host_len >= 1 && m.host_len <= size);
    size_t kept = m.host_len < BT_HOST_LEN ? m.host_len : BT_HOST_LEN - 1;
    CHECK(m.host[kept] == '\0');
    CHECK(strlen(m.token) < BT_TOKEN_LEN && is_digits(m.token));
    CHECK(m.token[0] != '0' || m.token[1] == '\0');

    /* Written back, a host without NUL bytes (kept whole) reads the same, unless it ends
     * in white space and is the last line (stripped, as filelock strips it). */
    char buf[BT_HOST_LEN + BT_TOKEN_LEN + 32];
    size_t n = bt_marker_format(buf, sizeof buf, m.pid, m.host, m.token);
    CHECK(n > 0);
    int plain = strlen(m.host) == m.host_len && !(m.token[0] == '\0' &&
                                                   is_strip((unsigned char)m.host[kept - 1]));
    if (plain) {
        bt_marker again;
        CHECK(bt_marker_parse(buf, n, &again));
        CHECK(again.pid == m.pid);
        CHECK(again.host_len == m.host_len && strcmp(again.host, m.host) == 0);
        CHECK(strcmp(again.token, m.token) == 0);
    }
    return 0;
}
