/* What the parts of the binding share: path checks, classes, and the registration of the
 * soft lock handle and the holder functions into the baton.core table. */
#ifndef BT_LUA_BATON_H
#define BT_LUA_BATON_H

#include "lua_compat.h"

/* The string at idx, raising unless it is a non-empty path without NUL bytes. */
const char *bt_lua_check_path(lua_State *L, int idx);

/* Make metatable `name` with metamethods `meta` and methods `methods` as its __index. */
void bt_lua_new_class(lua_State *L, const char *name, const luaL_Reg *meta,
                      const luaL_Reg *methods);

/* Add core.soft (lua_soft.c) and the holder functions (lua_holder.c) to the table on top. */
void bt_lua_open_soft(lua_State *L);
void bt_lua_open_holder(lua_State *L);

#endif
