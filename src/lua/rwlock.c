/* baton.core.rwlock: handles on SQLite read/write locks (bt_rw.c). Reentrancy, modes and
 * guards live in lua/baton/rwlock.lua. */
#include <string.h>

#include "../core/clock.h"
#include "../core/rw_lock.h"
#include "binding.h"

#define RW_MT "baton.rwlock"

typedef struct {
    bt_rw *rw;    /* NULL once collected */
    char path[1]; /* the lock file's path, allocated to its full length */
} rw_ud;

static rw_ud *check_rw(lua_State *L) { return (rw_ud *)luaL_checkudata(L, 1, RW_MT); }

/* core.rwlock(path, mode, make_parents) -> handle, nothing opened yet */
static int l_rwlock(lua_State *L) {
    const char *path = bt_lua_check_path(L, 1);
    size_t len = strlen(path);
    mode_t mode = bt_lua_check_mode(L, 2);
    int make_parents = lua_toboolean(L, 3);
    rw_ud *u = (rw_ud *)lua_newuserdata(L, sizeof(rw_ud) + len);
    u->rw = NULL;
    memcpy(u->path, path, len + 1);
    luaL_getmetatable(L, RW_MT);
    lua_setmetatable(L, -2);
    u->rw = bt_rw_new(mode, make_parents);
    if (!u->rw)
        return luaL_error(L, "baton: out of memory for read/write lock '%s'", path);
    return 1;
}

/* h:try(write) -> true | false, nil, "busy" | false, message, code */
static int l_rw_try(lua_State *L) {
    rw_ud *u = check_rw(L);
    int how = lua_toboolean(L, 2) ? BT_RW_WRITE : BT_RW_READ;
    if (!u->rw)
        return luaL_error(L, "baton: read/write lock '%s' was collected", u->path);
    bt_err err;
    return bt_lua_push_attempt(L, bt_rw_try(u->rw, u->path, how, &err), "lock file", u->path, &err);
}

/* h:wait(seconds) -> true when woken by a sign of a release */
static int l_rw_wait(lua_State *L) {
    rw_ud *u = check_rw(L);
    lua_Number s = luaL_checknumber(L, 2);
    if (!u->rw) {
        bt_sleep(s == s ? s : 0);
        lua_pushboolean(L, 0);
        return 1;
    }
    lua_pushboolean(L, bt_rw_wait(u->rw, u->path, s == s ? s : 0));
    return 1;
}

/* h:held() -> "read" | "write" | false */
static int l_rw_held(lua_State *L) {
    rw_ud *u = check_rw(L);
    int held = u->rw ? bt_rw_held(u->rw) : 0;
    if (held == BT_RW_READ)
        lua_pushliteral(L, "read");
    else if (held == BT_RW_WRITE)
        lua_pushliteral(L, "write");
    else
        lua_pushboolean(L, 0);
    return 1;
}

static int l_rw_abandon(lua_State *L) {
    rw_ud *u = check_rw(L);
    if (u->rw)
        bt_rw_abandon(u->rw);
    return 0;
}

static int l_rw_release(lua_State *L) {
    rw_ud *u = check_rw(L);
    if (u->rw)
        bt_rw_release(u->rw);
    return 0;
}

/* Release and close the connection; the handle stays usable and reconnects on demand. */
static int l_rw_close(lua_State *L) {
    rw_ud *u = check_rw(L);
    if (u->rw)
        bt_rw_close(u->rw);
    return 0;
}

static int l_rw_gc(lua_State *L) {
    rw_ud *u = check_rw(L);
    bt_rw_free(u->rw);
    u->rw = NULL;
    return 0;
}

static int l_rw_tostring(lua_State *L) {
    rw_ud *u = check_rw(L);
    int held = u->rw ? bt_rw_held(u->rw) : 0;
    lua_pushfstring(L, "baton.rwlock('%s', %s)", u->path,
                    held == BT_RW_READ ? "read" : held == BT_RW_WRITE ? "write" : "free");
    return 1;
}

static const luaL_Reg rw_methods[] = {
    {"try", l_rw_try},         {"wait", l_rw_wait},       {"held", l_rw_held},
    {"abandon", l_rw_abandon}, {"release", l_rw_release}, {"close", l_rw_close},
    {NULL, NULL}};

static const luaL_Reg rw_meta[] = {{"__gc", l_rw_gc}, {"__tostring", l_rw_tostring}, {NULL, NULL}};

void bt_lua_open_rw(lua_State *L) {
    bt_lua_new_class(L, RW_MT, rw_meta, rw_methods);
    lua_pushcfunction(L, l_rwlock);
    lua_setfield(L, -2, "rwlock");
}
