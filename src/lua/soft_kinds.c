/* baton.core.soft_strict: the strict claim handle (core/soft_strict.h), and baton.core.soft_rw:
 * soft read/write locks (core/soft_rw.h), with their holder and break functions. */
#include <errno.h>
#include <string.h>

#include "../core/soft_strict.h"
#include "../core/soft_rw.h"
#include "binding.h"

/* core.soft_strict(path, mode, make_parents) -> handle, not yet locked */
static int l_soft_strict(lua_State *L) {
    const char *path = bt_lua_check_path(L, 1);
    mode_t mode = bt_lua_check_mode(L, 2);
    int make_parents = lua_toboolean(L, 3);
    bt_handle *h = bt_lua_new_handle(L, &bt_strict_kind, path, strlen(path));
    bt_strict_init((bt_strict *)bt_handle_state(h), mode, make_parents);
    h->open = 1;
    return 1;
}

static void set_string(lua_State *L, const char *key, const char *v) {
    lua_pushstring(L, v);
    lua_setfield(L, -2, key);
}

/* core.strict_claims(path) -> { { name=, state=, token=, pid=, host=, start=, since= }... }
 * (pid, host and start absent from a record that cannot be read); nil when there is no
 * claim folder; nil, message, code when it cannot be read. */
static int l_strict_claims(lua_State *L) {
    const char *path = bt_lua_check_path(L, 1);
    bt_claim claims[16];
    int n = bt_strict_claims(path, claims, 16);
    if (n < 0) {
        char buf[16];
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        lua_pushnil(L);
        lua_pushfstring(L, "baton: cannot read the claims of strict soft lock '%s': %s", path,
                        strerror(errno));
        lua_pushstring(L, bt_errno_name(errno, buf));
        return 3;
    }
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_createtable(L, 0, 7);
        set_string(L, "name", claims[i].name);
        set_string(L, "state", claims[i].held ? "held" : "intent");
        set_string(L, "token", claims[i].token);
        lua_pushnumber(L, claims[i].mtime);
        lua_setfield(L, -2, "since");
        if (claims[i].valid) {
            lua_pushinteger(L, (lua_Integer)claims[i].pid);
            lua_setfield(L, -2, "pid");
            set_string(L, "host", claims[i].host);
            if (claims[i].start[0])
                set_string(L, "start", claims[i].start);
        }
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* core.strict_break(path) -> how many claims were removed, or nil, message, code */
static int l_strict_break(lua_State *L) {
    const char *path = bt_lua_check_path(L, 1);
    bt_err err;
    int n = bt_strict_break(path, &err);
    if (n < 0)
        return bt_lua_push_attempt(L, BT_FAIL, "strict soft lock", path, &err);
    lua_pushinteger(L, n);
    return 1;
}

/* core.soft_rw(path, make_parents, heartbeat, stale) -> handle with both modes (try(write)) */
static int l_soft_rw(lua_State *L) {
    const char *path = bt_lua_check_path(L, 1);
    int make_parents = lua_toboolean(L, 2);
    lua_Number every = luaL_checknumber(L, 3), stale = luaL_checknumber(L, 4);
    luaL_argcheck(L, every > 0 && stale > every, 4, "the stale threshold must exceed the heartbeat");
    bt_handle *h = bt_lua_new_handle(L, &bt_softrw_kind, path, strlen(path));
    bt_softrw_init((bt_softrw *)bt_handle_state(h), make_parents, (double)every, (double)stale);
    h->open = 1;
    return 1;
}

/* The message and reason of a held soft read/write lock that was lost: 2 pushed, else 0. */
static int push_softrw_lost(lua_State *L, bt_handle *h) {
    char why[512];
    const char *reason = NULL;
    if (!h->open || !bt_softrw_lost((bt_softrw *)bt_handle_state(h), why, sizeof why, &reason))
        return 0;
    lua_pushfstring(L, "baton: soft read/write lock '%s' was lost: %s", h->path, why);
    lua_pushstring(L, reason);
    return 2;
}

/* h:lost() -> message, reason when the held soft read/write lock was lost, else nil */
static int l_softrw_lost(lua_State *L) { return push_softrw_lost(L, bt_lua_check_handle(L)); }

/* h:release() -> nothing, or nil, message, "lost" when the held lock had been lost (its
 * marker, if one is at the path, is the new holder's and stays). Idempotent. */
static int l_softrw_release(lua_State *L) {
    bt_handle *h = bt_lua_check_handle(L);
    lua_settop(L, 1);
    lua_pushnil(L);
    int lost = push_softrw_lost(L, h);
    if (h->open)
        h->kind->release(h->state, h->path);
    if (!lost)
        return 0;
    lua_pop(L, 1); /* the reason: the code is "lost" */
    lua_pushliteral(L, "lost");
    return 3;
}

/* h:lostfd() -> a descriptor readable once the held lock is lost, or nil */
static int l_softrw_lostfd(lua_State *L) {
    bt_handle *h = bt_lua_check_handle(L);
    return bt_lua_push_fd(L, h->open ? bt_softrw_lostfd((bt_softrw *)bt_handle_state(h)) : -1);
}

/* h:abandon(): a waiting writer's claim goes */
static int l_softrw_abandon(lua_State *L) {
    bt_handle *h = bt_lua_check_handle(L);
    if (h->open)
        bt_softrw_abandon((bt_softrw *)bt_handle_state(h), h->path);
    return 0;
}

/* h:identity() -> nil: no file whose locks this process's other objects could hold */
static int l_softrw_identity(lua_State *L) {
    (void)L;
    return 0;
}

/* core.soft_rw_markers(path) -> { { mode = "write" | "read", pid =, host =, since = }... } */
static int l_softrw_markers(lua_State *L) {
    const char *path = bt_lua_check_path(L, 1);
    bt_softrw_marker m[32];
    int n = bt_softrw_markers(path, m, 32);
    lua_createtable(L, n > 0 ? n : 0, 0);
    for (int i = 0; i < n; i++) {
        lua_createtable(L, 0, 4);
        set_string(L, "mode", m[i].write ? "write" : "read");
        lua_pushinteger(L, (lua_Integer)m[i].pid);
        lua_setfield(L, -2, "pid");
        set_string(L, "host", m[i].host);
        lua_pushnumber(L, m[i].mtime);
        lua_setfield(L, -2, "since");
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

void bt_lua_open_soft_kinds(lua_State *L) {
    bt_lua_new_handle_class(L, &bt_strict_kind, NULL);
    bt_lua_set_constructor(L, &bt_strict_kind, "soft_strict", l_soft_strict);
    /* h:close(): everything goes back (the handle's end) */
    static const luaL_Reg rw_extra[] = {{"abandon", l_softrw_abandon}, {"close", bt_lua_end_handle},
                                        {"identity", l_softrw_identity}, {"lost", l_softrw_lost},
                                        {"lostfd", l_softrw_lostfd},
                                        {"release", l_softrw_release}, {NULL, NULL}};
    bt_lua_new_handle_class(L, &bt_softrw_kind, rw_extra);
    bt_lua_set_constructor(L, &bt_softrw_kind, "soft_rw", l_soft_rw);
    static const luaL_Reg fns[] = {{"soft_rw_markers", l_softrw_markers},
                                   {"strict_claims", l_strict_claims},
                                   {"strict_break", l_strict_break},
                                   {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
