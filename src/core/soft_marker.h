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
    int mode;                  /* BT_MARKER_PLAIN (protocol 1), or protocol 2: _LEASE, _OTHER */
    double duration;           /* a lease's length in seconds (mode BT_MODE_LEASE) */
} bt_marker;

enum { BT_MARKER_PLAIN = 0, BT_MARKER_LEASE = 1, BT_MARKER_OTHER = 2 };

/* The sentinel filelock's StrictSoftFileLock keeps at the lock path ("1\nfilelock-strict-v1
 * \0\n0\n"): the lock is its claims in PATH.filelock/claims/, never the file itself. */
#define BT_STRICT_SENTINEL "1\nfilelock-strict-v1\0\n0\n"
#define BT_STRICT_SENTINEL_LEN 24

/* Why a plain soft lock refuses a strict lock's sentinel at its path. */
#define BT_STRICT_DETAIL                                                                    \
    "the file there is the sentinel of a strict soft lock (Python filelock's "             \
    "StrictSoftFileLock), which only a strict soft lock ({ strict = true }) takes; it is left alone"

/* 1 when a lease of `ours` seconds must refuse a lease marker of `theirs` seconds (every
 * contender must agree on the lease), with why into out; else 0. */
int bt_marker_lease_mismatch(char *out, size_t cap, double theirs, double ours);

/* Longest marker of a soft read/write lock read. */
#define BT_RW_MARKER_MAX 1024

/* A soft read/write lock's marker, "TOKEN\nPID\nHOST\n" (filelock's SoftReadWriteLock; TOKEN
 * 32 hexadecimal digits): 1 with token (33 bytes) and, when given, *pid and host (cap bytes,
 * cut short) filled; else 0. */
int bt_marker_parse_rw(const char *buf, size_t n, char token[33], long *pid, char *host,
                       size_t cap);

/* 1 when buf holds exactly the strict sentinel. */
int bt_marker_is_sentinel(const char *buf, size_t len);

/* Write a protocol 2 lease marker ("filelock/2", pid, host, mode=lease, token, duration,
 * start) into buf: its length, or 0 when it does not fit. */
size_t bt_marker_format_lease(char *buf, size_t cap, long pid, const char *host,
                              const char *claim, double duration, const char *start);

/* The shortest decimal text that reads back as `v` (as Python's repr of a float does,
 * without its ".0"), into buf. */
void bt_marker_duration(char *buf, size_t cap, double v);

/* Read a marker's content. Returns 1 when it names an owner (filled into *out), 0 when it
 * is malformed. Leading and trailing white space is ignored and lines may end in "\n",
 * "\r\n" or "\r", as Python's str.strip().splitlines() reads them. */
int bt_marker_parse(const char *buf, size_t len, bt_marker *out);

/* Write "pid\nhost\ntoken\n" (or without the token line when token is empty) into buf.
 * Returns the length, or 0 when it does not fit. */
size_t bt_marker_format(char *buf, size_t cap, long pid, const char *host, const char *token);

#endif
