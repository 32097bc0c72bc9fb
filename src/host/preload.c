/* package.preload for baton.core and the embedded Lua modules (preload.h). */
#include "preload.h"

#include <lauxlib.h>

#include "embedded.h"

int luaopen_baton_core(lua_State *L);
#ifdef BATON_HOST_ETCD
int luaopen_baton_etcd_core(lua_State *L); /* linked in where libcurl and jansson are */
#endif

/* The loader for one embedded module; upvalue 1 is its index. */
static int load_embedded(lua_State *L) {
    const bt_embedded *m = &bt_embedded_modules[lua_tointeger(L, lua_upvalueindex(1))];
    if (luaL_loadbuffer(L, m->source, m->size, m->chunkname) != LUA_OK)
        return lua_error(L);
    lua_pushstring(L, m->name);
    lua_pushstring(L, m->chunkname + 1);
    lua_call(L, 2, 1);
    return 1;
}

void bt_preload(lua_State *L) {
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_baton_core);
    lua_setfield(L, -2, "baton.core");
#ifdef BATON_HOST_ETCD
    lua_pushcfunction(L, luaopen_baton_etcd_core);
    lua_setfield(L, -2, "baton.etcd_core");
#endif
    for (lua_Integer i = 0; bt_embedded_modules[i].name; i++) {
        lua_pushinteger(L, i);
        lua_pushcclosure(L, load_embedded, 1);
        lua_setfield(L, -2, bt_embedded_modules[i].name);
    }
    lua_pop(L, 1);
}
