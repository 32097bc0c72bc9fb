/* The soft-lock marker: the text Python's filelock and baton write into the file whose
 * existence is the lock. Three forms are read:
 *   "pid\nhost\nstart-token\n"  filelock >= 3.29 and baton (the token tells a recycled pid)
 *   "pid\nhost\n"               filelock releases before the start token
 *   "filelock/2\npid=...\nhost=...\nmode=...\n[start=...\n]"  filelock's marker protocol 2
 * Anything else (including an empty file, which filelock 3.9 leaves) names no owner.
 * The parser is a pure function over a buffer. */
#ifndef BT_MARKER_H
#define BT_MARKER_H

#include <stddef.h>

#include "os/os.h"

/* Longest host name kept; a longer one is kept cut short and never matches this host. */
#define BT_HOST_LEN 256

/* Markers are small; a file longer than this names no owner. */
#define BT_MARKER_MAX 4096

typedef struct bt_marker {
    long pid;                  /* 1 .. 2^31-1 */
    char host[BT_HOST_LEN];    /* NUL-terminated (a host with a NUL byte never matches) */
    size_t host_len;           /* its full length, even when cut short */
    char token[BT_TOKEN_LEN];  /* decimal digits without leading zeros; "" when absent */
} bt_marker;

/* Read a marker's content. Returns 1 when it names an owner (filled into *out), 0 when it
 * is malformed. Leading and trailing white space is ignored and lines may end in "\n",
 * "\r\n" or "\r", as Python's str.strip().splitlines() reads them. */
int bt_marker_parse(const char *buf, size_t len, bt_marker *out);

/* Write "pid\nhost\ntoken\n" (or without the token line when token is empty) into buf.
 * Returns the length, or 0 when it does not fit. */
size_t bt_marker_format(char *buf, size_t cap, long pid, const char *host, const char *token);

#endif
