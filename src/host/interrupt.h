/* A terminating signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE,
 * SIGALRM and every other one whose default action ends the process, but for the faults
 * the kernel raises itself) while a script runs: the handler only takes note; at the next
 * safe point a Lua hook stops the children the script started and raises an error, so the
 * script unwinds (`<close>` handlers run, locks are released) instead of dying on the spot. */
#ifndef BT_INTERRUPT_H
#define BT_INTERRUPT_H

#include <lua.h>

/* Seconds a child gets between SIGTERM and SIGKILL. */
#define BT_STOP_GRACE 2.0

/* Install the handlers for L (the main thread). Signals that were ignored when the program
 * started stay ignored, as a shell's `nohup` or `&` intends, and a handler already in place
 * (a preloaded library's) is left alone. Handlers do not restart system calls, so blocking
 * waits return early. */
void bt_interrupt_install(lua_State *L);

/* From now on signals are only noted (the state is being closed). */
void bt_interrupt_quiet(void);

#endif
