/* baton.core's one part not built for Windows yet: locks on open descriptors
 * (baton.lock_file). Its functions are there, and raise an error that names the feature, so
 * that a program learns at once what it cannot use. */
#include "binding.h"
#include "compat.h"

/* The function's upvalue is the feature's name, as users call it. */
static int l_unavailable(lua_State *L) {
    return luaL_error(L, "%s is not available on Windows yet",
                      lua_tostring(L, lua_upvalueindex(1)));
}

void bt_lua_open_fdlock(lua_State *L) {
    static const char *const fields[] = {"fd_lock", "fileno", "exec_holding", NULL};
    for (int i = 0; fields[i]; i++) {
        lua_pushstring(L, "baton.lock_file");
        lua_pushcclosure(L, l_unavailable, 1);
        lua_setfield(L, -2, fields[i]);
    }
}
