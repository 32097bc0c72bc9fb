/* baton.core.rwlock: SQLite read/write locks (core/rw_lock.h) through the generic handle.
 * Reentrancy, modes and guards live in lua/baton/rwlock.lua. */
#include <stdio.h>
#include <string.h>

#include "../core/rw_lock.h"
#include "binding.h"

static bt_rw *rw_of(bt_handle *h) { return *(bt_rw **)bt_handle_state(h); }

/* core.rwlock(path, mode, make_parents) -> handle, nothing opened yet */
static int l_rwlock(lua_State *L) {
    const char *path = bt_lua_check_path(L, 1);
    mode_t mode = bt_lua_check_mode(L, 2);
    int make_parents = lua_toboolean(L, 3);
    bt_handle *h = bt_lua_new_handle(L, &bt_rw_kind, path, strlen(path));
    bt_rw *rw = bt_rw_new(mode, make_parents);
    *(bt_rw **)bt_handle_state(h) = bt_lua_check_alloc(L, rw, "read/write lock", path);
    h->open = 1;
    return 1;
}

/* h:abandon(): stop a wait that holds SQLite's PENDING byte */
static int l_rw_abandon(lua_State *L) {
    bt_handle *h = bt_lua_check_handle(L);
    if (h->open)
        bt_rw_abandon(rw_of(h));
    return 0;
}

/* Release and close the connection; the handle stays usable and reconnects on demand. */
static int l_rw_close(lua_State *L) {
    bt_handle *h = bt_lua_check_handle(L);
    if (h->open)
        bt_rw_close(rw_of(h));
    return 0;
}

/* h:identity() -> "dev:ino" of the file the connection is on, nil while none is open */
static int l_rw_identity(lua_State *L) {
    bt_handle *h = bt_lua_check_handle(L);
    unsigned long long dev, ino;
    if (!h->open || !bt_rw_identity(rw_of(h), &dev, &ino)) {
        lua_pushnil(L);
        return 1;
    }
    char buf[48];
    snprintf(buf, sizeof buf, "%llu:%llu", dev, ino);
    lua_pushstring(L, buf);
    return 1;
}

static const luaL_Reg rw_extra[] = {
    {"abandon", l_rw_abandon}, {"close", l_rw_close}, {"identity", l_rw_identity}, {NULL, NULL}};

void bt_lua_open_rw(lua_State *L) {
    bt_lua_new_handle_class(L, &bt_rw_kind, rw_extra);
    bt_lua_set_constructor(L, &bt_rw_kind, "rwlock", l_rwlock);
}
