/* The Lua half of baton, compiled into the executable (see tools/embed.sh). */
#ifndef BT_EMBEDDED_H
#define BT_EMBEDDED_H

#include <stddef.h>

typedef struct bt_embedded {
    const char *name;      /* module name for require, e.g. "baton.lock" */
    const char *chunkname; /* "@lua/baton/lock.lua", as tracebacks show it */
    const char *source;
    size_t size;
} bt_embedded;

/* Ends with an entry whose name is NULL. */
extern const bt_embedded bt_embedded_modules[];

#endif
