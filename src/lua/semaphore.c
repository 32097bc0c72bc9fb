/* baton.core.semaphore: handles on flock-based counting semaphores (bt_sem.c). Guards and
 * options live in lua/baton/semaphore.lua. */
#include <math.h>
#include <string.h>

#include "../core/semaphore.h"
#include "binding.h"

#define SEM_MT "baton.semaphore"

typedef struct {
    bt_sem *sem;  /* NULL once collected */
} sem_ud;

static sem_ud *check_sem(lua_State *L) {
    sem_ud *u = (sem_ud *)luaL_checkudata(L, 1, SEM_MT);
    if (!u->sem)
        luaL_error(L, "baton: semaphore handle used after collection");
    return u;
}

/* core.semaphore(path, n, mode, make_parents) -> handle holding no slot */
static int l_semaphore(lua_State *L) {
    const char *path = bt_lua_check_path(L, 1);
    lua_Number n = luaL_checknumber(L, 2);
    luaL_argcheck(L, n >= 1 && n <= BT_SEM_MAX && n == floor(n), 2,
                  "the number of slots must be an integer from 1 to 1024");
    mode_t mode = bt_lua_check_mode(L, 3);
    int make_parents = lua_toboolean(L, 4);
    sem_ud *u = (sem_ud *)lua_newuserdata(L, sizeof(sem_ud));
    u->sem = NULL;
    luaL_getmetatable(L, SEM_MT);
    lua_setmetatable(L, -2);
    u->sem = bt_sem_new(path, (int)n, mode, make_parents);
    if (!u->sem)
        return luaL_error(L, "baton: out of memory for semaphore '%s'", path);
    return 1;
}

/* h:try() -> true | false, nil, "busy" | false, message, code */
static int l_sem_try(lua_State *L) {
    sem_ud *u = check_sem(L);
    bt_err err;
    const char *failed = NULL;
    int rc = bt_sem_try(u->sem, &err, &failed); /* sets `failed` before it is read */
    return bt_lua_push_attempt(L, rc, "lock file", failed, &err);
}

/* h:unusable() -> message, code for the first slot file the last busy attempt could not
 * use; nil when every slot was held by others */
static int l_sem_unusable(lua_State *L) {
    sem_ud *u = check_sem(L);
    bt_err err;
    const char *path = bt_sem_unusable(u->sem, &err);
    if (!path) {
        lua_pushnil(L);
        return 1;
    }
    bt_lua_push_failure(L, path, &err); /* false, message, code */
    lua_remove(L, -3);
    return 2;
}

/* h:wait(seconds) -> true when woken by a change to a slot file */
static int l_sem_wait(lua_State *L) {
    sem_ud *u = check_sem(L);
    lua_Number s = luaL_checknumber(L, 2);
    lua_pushboolean(L, bt_sem_wait(u->sem, s == s ? s : 0));
    return 1;
}

static int l_sem_held(lua_State *L) {
    lua_pushboolean(L, bt_sem_slot(check_sem(L)->sem) > 0);
    return 1;
}

/* h:slot() -> k, "path.k" while slot k is held; nil otherwise */
static int l_sem_slot(lua_State *L) {
    sem_ud *u = check_sem(L);
    int k = bt_sem_slot(u->sem);
    if (k == 0) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushinteger(L, k);
    lua_pushstring(L, bt_sem_slot_path(u->sem, k));
    return 2;
}

/* Serves release and __close alike: idempotent. */
static int l_sem_release(lua_State *L) {
    sem_ud *u = (sem_ud *)luaL_checkudata(L, 1, SEM_MT);
    if (u->sem)
        bt_sem_release(u->sem);
    return 0;
}

static int l_sem_gc(lua_State *L) {
    sem_ud *u = (sem_ud *)luaL_checkudata(L, 1, SEM_MT);
    bt_sem_free(u->sem);
    u->sem = NULL;
    return 0;
}

static int l_sem_tostring(lua_State *L) {
    sem_ud *u = (sem_ud *)luaL_checkudata(L, 1, SEM_MT);
    int k = u->sem ? bt_sem_slot(u->sem) : 0;
    if (k)
        lua_pushfstring(L, "baton.semaphore('%s', held)", bt_sem_slot_path(u->sem, k));
    else
        lua_pushliteral(L, "baton.semaphore(free)");
    return 1;
}

static const luaL_Reg sem_methods[] = {
    {"try", l_sem_try},   {"wait", l_sem_wait},       {"held", l_sem_held},
    {"slot", l_sem_slot}, {"release", l_sem_release}, {"unusable", l_sem_unusable},
    {NULL, NULL}};

static const luaL_Reg sem_meta[] = {
    {"__gc", l_sem_gc},
#if LUA_VERSION_NUM >= 504
    {"__close", l_sem_release},
#endif
    {"__tostring", l_sem_tostring}, {NULL, NULL}};

void bt_lua_open_sem(lua_State *L) {
    bt_lua_new_class(L, SEM_MT, sem_meta, sem_methods);
    lua_pushcfunction(L, l_semaphore);
    lua_setfield(L, -2, "semaphore");
}
