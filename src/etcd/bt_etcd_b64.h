/* Base64 (RFC 4648, with padding): the JSON gateway carries etcd keys and values this way. */
#ifndef BT_ETCD_B64_H
#define BT_ETCD_B64_H

#include <stddef.h>

/* Encode n bytes; returns a NUL-terminated string to free(), or NULL when out of memory. */
char *bt_b64_encode(const void *data, size_t n);

/* Decode a NUL-terminated string; returns the bytes (NUL-terminated too, *n excludes it) to
 * free(), or NULL when the text is not base64 or memory runs out. */
char *bt_b64_decode(const char *text, size_t *n);

#endif
