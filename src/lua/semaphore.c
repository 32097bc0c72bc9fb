/* baton.core.semaphore: flock-based counting semaphores (core/semaphore.h) through the
 * generic handle. Guards and options live in lua/baton/semaphore.lua. */
#include <math.h>
#include <string.h>

#include "../core/semaphore.h"
#include "binding.h"

static bt_sem *sem_of(bt_handle *h) { return *(bt_sem **)bt_handle_state(h); }

/* core.semaphore(path, n, mode, make_parents) -> handle holding no slot */
static int l_semaphore(lua_State *L) {
    const char *path = bt_lua_check_path(L, 1);
    lua_Number n = luaL_checknumber(L, 2);
    /* lua/baton/semaphore.lua checks and explains; this only keeps bt_sem_new's contract */
    luaL_argcheck(L, n >= 1 && n <= BT_SEM_MAX && n == floor(n), 2, "1 to SEM_MAX");
    mode_t mode = bt_lua_check_mode(L, 3);
    int make_parents = lua_toboolean(L, 4);
    bt_handle *h = bt_lua_new_handle(L, &bt_semaphore_kind, path, strlen(path));
    bt_sem *sem = bt_sem_new(path, (int)n, mode, make_parents);
    *(bt_sem **)bt_handle_state(h) = bt_lua_check_alloc(L, sem, "semaphore", path);
    h->open = 1;
    return 1;
}

/* h:unusable() -> message, code for the first slot file the last busy attempt could not
 * use; nil when every slot was held by others */
static int l_sem_unusable(lua_State *L) {
    bt_handle *h = bt_lua_check_open(L);
    bt_err err;
    const char *path = bt_sem_unusable(sem_of(h), &err);
    if (!path) {
        lua_pushnil(L);
        return 1;
    }
    bt_lua_push_failure(L, path, &err); /* false, message, code */
    lua_remove(L, -3);
    return 2;
}

/* h:slot() -> k, "path.k" while slot k is held; nil otherwise */
static int l_sem_slot(lua_State *L) {
    bt_handle *h = bt_lua_check_handle(L);
    int k = h->open ? bt_sem_slot(sem_of(h)) : 0;
    if (k == 0) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushinteger(L, k);
    lua_pushstring(L, bt_sem_slot_path(sem_of(h), k));
    return 2;
}

static const luaL_Reg sem_extra[] = {
    {"slot", l_sem_slot}, {"unusable", l_sem_unusable}, {NULL, NULL}};

void bt_lua_open_sem(lua_State *L) {
    bt_lua_new_handle_class(L, &bt_semaphore_kind, sem_extra);
    bt_lua_set_constructor(L, &bt_semaphore_kind, "semaphore", l_semaphore);
    lua_pushinteger(L, BT_SEM_MAX);
    lua_setfield(L, -2, "SEM_MAX");
}
