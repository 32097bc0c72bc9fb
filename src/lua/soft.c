/* baton.core.soft: the soft lock handle (core/soft_lock.h) through the generic handle, with
 * its leases, and the operator's break of a soft marker. Strict soft locks and soft
 * read/write locks are soft_kinds.c's. */
#include <string.h>

#include "../core/soft_lock.h"
#include "binding.h"

/* core.soft(path, mode, make_parents, stale_after [, lease, heartbeat]) -> handle, not yet
 * locked. stale_after: seconds, or nil/negative for never; lease: seconds (a lease). */
static int l_soft(lua_State *L) {
    const char *path = bt_lua_check_path(L, 1);
    mode_t mode = bt_lua_check_mode(L, 2);
    int make_parents = lua_toboolean(L, 3);
    lua_Number stale_after = luaL_optnumber(L, 4, -1);
    luaL_argcheck(L, stale_after == stale_after, 4, "stale_after must not be NaN");
    lua_Number lease = luaL_optnumber(L, 5, 0), every = luaL_optnumber(L, 6, lease / 3);
    luaL_argcheck(L, !(lease > 0) || (every > 0 && every < lease), 6,
                  "the heartbeat must be above 0 and below the lease");
    bt_handle *h = bt_lua_new_handle(L, &bt_soft_kind, path, strlen(path));
    bt_soft *s = (bt_soft *)bt_handle_state(h);
    bt_soft_init(s, mode, make_parents, (double)stale_after);
    if (lease > 0)
        bt_soft_set_lease(s, (double)lease, (double)every);
    h->open = 1;
    return 1;
}

/* h:lost() -> message, reason when a held lease was lost, else nil */
static int l_lost(lua_State *L) {
    bt_handle *h = bt_lua_check_handle(L);
    char why[512];
    const char *reason = NULL;
    if (!h->open || !bt_soft_lost((bt_soft *)bt_handle_state(h), why, sizeof why, &reason))
        return 0;
    lua_pushfstring(L, "baton: soft lease '%s' was lost: %s", h->path, why);
    lua_pushstring(L, reason);
    return 2;
}

/* h:lostfd() -> a descriptor readable once a held lease is lost, or nil */
static int l_lostfd(lua_State *L) {
    bt_handle *h = bt_lua_check_handle(L);
    return bt_lua_push_fd(L, h->open ? bt_soft_lostfd((bt_soft *)bt_handle_state(h)) : -1);
}

/* core.soft_break(path) -> true, or false, message, code (busy: someone removes it now) */
static int l_soft_break(lua_State *L) {
    const char *path = bt_lua_check_path(L, 1);
    bt_err err;
    return bt_lua_push_attempt(L, bt_soft_break(path, &err), "soft lock", path, &err);
}

void bt_lua_open_soft(lua_State *L) {
    static const luaL_Reg extra[] = {{"lost", l_lost}, {"lostfd", l_lostfd}, {NULL, NULL}};
    bt_lua_new_handle_class(L, &bt_soft_kind, extra);
    bt_lua_set_constructor(L, &bt_soft_kind, "soft", l_soft);
    static const luaL_Reg fns[] = {{"soft_break", l_soft_break}, {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
