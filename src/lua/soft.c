/* baton.core.soft: the soft lock handle (bt_soft.h) as a userdata. */
#include <math.h>
#include <string.h>

#include "../core/soft_lock.h"
#include "binding.h"

#define SOFT_MT "baton.soft"

typedef struct {
    bt_soft lock;
    char path[1]; /* the marker's path, allocated to its full length */
} soft_ud;

static soft_ud *check_soft(lua_State *L) { return (soft_ud *)luaL_checkudata(L, 1, SOFT_MT); }

/* core.soft(path, mode, make_parents, stale_after) -> handle, not yet locked.
 * stale_after: seconds, or nil/negative for never. */
static int l_soft(lua_State *L) {
    const char *path = bt_lua_check_path(L, 1);
    size_t len = strlen(path);
    mode_t mode = bt_lua_check_mode(L, 2);
    int make_parents = lua_toboolean(L, 3);
    lua_Number stale_after = luaL_optnumber(L, 4, -1);
    luaL_argcheck(L, stale_after == stale_after, 4, "stale_after must not be NaN");
    soft_ud *u = (soft_ud *)lua_newuserdata(L, sizeof(soft_ud) + len);
    bt_soft_init(&u->lock, (mode_t)mode, make_parents, (double)stale_after);
    memcpy(u->path, path, len + 1);
    luaL_getmetatable(L, SOFT_MT);
    lua_setmetatable(L, -2);
    return 1;
}

/* h:try() -> true | false, message, code ("busy" or an errno name) */
static int l_soft_try(lua_State *L) {
    soft_ud *u = check_soft(L);
    bt_err err;
    return bt_lua_push_attempt(L, bt_soft_try(&u->lock, u->path, &err), "soft lock", u->path, &err);
}

/* h:wait(seconds) -> true when woken by the marker's removal */
static int l_soft_wait(lua_State *L) {
    soft_ud *u = check_soft(L);
    lua_Number s = luaL_checknumber(L, 2);
    lua_pushboolean(L, bt_soft_wait(&u->lock, u->path, s));
    return 1;
}

static int l_soft_pollfd(lua_State *L) {
    return bt_lua_push_fd(L, bt_soft_pollfd(&check_soft(L)->lock));
}

static int l_soft_held(lua_State *L) {
    lua_pushboolean(L, bt_soft_held(&check_soft(L)->lock));
    return 1;
}

/* h:record([note]): publish the note and the time the lock was taken, for baton.holder. */
static int l_soft_record(lua_State *L) {
    soft_ud *u = check_soft(L);
    size_t len = 0;
    const char *note = luaL_optlstring(L, 2, NULL, &len);
    bt_soft_record(&u->lock, note, len);
    return 0;
}

/* Serves release, __gc and __close alike: idempotent. */
static int l_soft_release(lua_State *L) {
    soft_ud *u = check_soft(L);
    bt_soft_release(&u->lock, u->path);
    return 0;
}

static int l_soft_tostring(lua_State *L) {
    soft_ud *u = check_soft(L);
    lua_pushfstring(L, "baton.soft('%s', %s)", u->path, bt_soft_held(&u->lock) ? "held" : "free");
    return 1;
}

static const luaL_Reg soft_methods[] = {
    {"try", l_soft_try},   {"wait", l_soft_wait},     {"pollfd", l_soft_pollfd},
    {"held", l_soft_held}, {"record", l_soft_record}, {"release", l_soft_release},
    {NULL, NULL}};

static const luaL_Reg soft_meta[] = {{"__gc", l_soft_release},
#if LUA_VERSION_NUM >= 504
                                     {"__close", l_soft_release},
#endif
                                     {"__tostring", l_soft_tostring},
                                     {NULL, NULL}};

void bt_lua_open_soft(lua_State *L) {
    bt_lua_new_class(L, SOFT_MT, soft_meta, soft_methods);
    lua_pushcfunction(L, l_soft);
    lua_setfield(L, -2, "soft");
}
