/* package.preload entries for baton.core (linked in) and the embedded Lua modules, so the
 * executable needs no LUA_PATH or LUA_CPATH to find baton. */
#ifndef BT_PRELOAD_H
#define BT_PRELOAD_H

#include <lua.h>

void bt_preload(lua_State *L);

#endif
