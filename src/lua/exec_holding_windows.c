/* core.exec_holding on Windows: there is no exec, and a child inherits no lock (a lock
 * belongs to its handle), so flock(1)'s -F cannot be had; it raises, naming itself. */
#include "binding.h"

int bt_lua_exec_holding(lua_State *L) {
    return luaL_error(L, "baton.core.exec_holding is not available on Windows yet");
}
