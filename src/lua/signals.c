/* baton.core's signal functions, alike on every platform (process.h): the signal a host has
 * caught, and signal names both ways (core/signals.c). */
#include "process.h"

#include "../core/signals.h"

/* core.interrupted() -> signal number, name | nil */
static int l_interrupted(lua_State *L) {
    int sig = bt_signal_caught();
    if (!sig)
        return 0;
    lua_pushinteger(L, sig);
    lua_pushstring(L, bt_signal_name(sig));
    return 2;
}

/* core.signal_number("TERM") -> 15 | nil */
static int l_signal_number(lua_State *L) {
    int sig = bt_signal_number(luaL_checkstring(L, 1));
    if (!sig)
        return 0;
    lua_pushinteger(L, sig);
    return 1;
}

/* core.signal_name(15) -> "SIGTERM" | nil */
static int l_signal_name(lua_State *L) {
    const char *name = bt_signal_name((int)luaL_checkinteger(L, 1));
    if (!name)
        return 0;
    lua_pushstring(L, name);
    return 1;
}

static const luaL_Reg functions[] = {{"interrupted", l_interrupted},
                                     {"signal_number", l_signal_number},
                                     {"signal_name", l_signal_name},
                                     {NULL, NULL}};

void bt_lua_open_signals(lua_State *L) { luaL_setfuncs(L, functions, 0); }
