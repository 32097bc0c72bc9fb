/* The few Lua C API differences between 5.1/LuaJIT and 5.3/5.4 that the binding meets. */
#ifndef BT_LUA_COMPAT_H
#define BT_LUA_COMPAT_H

#include <lauxlib.h>
#include <lua.h>

#if LUA_VERSION_NUM < 502 && !defined(luaL_newlib) /* LuaJIT 2.1 has them */
static inline void bt_setfuncs(lua_State *L, const luaL_Reg *l, int nup) {
    (void)nup; /* only used with nup == 0 */
    for (; l->name; l++) {
        lua_pushcfunction(L, l->func);
        lua_setfield(L, -2, l->name);
    }
}
#define luaL_setfuncs bt_setfuncs
#define luaL_newlib(L, l) (lua_newtable(L), luaL_setfuncs(L, l, 0))
#endif
#if LUA_VERSION_NUM < 502 && !defined(lua_rawlen)
#define lua_rawlen lua_objlen
#endif

#endif
