/* The process half of baton.core: descriptors, child processes, poll, signals. */
#ifndef BT_LUA_PROCESS_H
#define BT_LUA_PROCESS_H

#include "compat.h"

/* Add the functions to the module table on top of the stack. */
void bt_lua_process_open(lua_State *L);

/* Add core.interrupted, core.signal_number and core.signal_name (signals.c) likewise. */
void bt_lua_open_signals(lua_State *L);

#endif
