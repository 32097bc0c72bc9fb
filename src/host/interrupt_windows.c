/* interrupt.h on Windows, where a script's Ctrl-C is not caught yet: the system's default
 * ends baton at once, and the children started with die_with_parent end with it (their job
 * objects close). `baton lock` lets its command take a Ctrl-C itself (fastlock_windows.c). */
#include "interrupt.h"

void bt_interrupt_install(lua_State *L) { (void)L; }

void bt_interrupt_quiet(void) {}
