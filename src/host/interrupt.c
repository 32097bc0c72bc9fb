/* Terminating signals while a script runs: note them, stop the children, raise (interrupt.h).
 * What catches them is the platform's (interrupt_os.h): signal handlers, or Windows' console
 * control handler. */
#define _POSIX_C_SOURCE 200809L
#include "interrupt.h"
#include "interrupt_os.h"

#include <signal.h>
#include <stddef.h>

#include "../core/signals.h"
#include "../core/spawn.h"

/* How many VM instructions may pass between two looks at the flag. Threads inherit the hook
 * of the thread that creates them, so coroutines (baton.jobs) are covered too. */
#define CHECK_EVERY 1000

static lua_State *main_thread;
static volatile sig_atomic_t pending; /* a signal not yet raised as an error */
static volatile sig_atomic_t quiet;

static void hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    lua_sethook(L, hook, LUA_MASKCOUNT, CHECK_EVERY); /* back to the cheap check */
    int sig = pending;
    if (!sig || quiet)
        return;
    pending = 0;
    /* Children go first: a lock released by the unwinding must not leave one of them
     * running unprotected. */
    bt_children_stop(BT_STOP_GRACE);
    lua_pushfstring(L, "baton: interrupted by %s", bt_signal_name(sig));
    lua_error(L);
}

static void on_signal(int sig) {
    bt_signal_note(sig);
    if (quiet)
        return;
    pending = sig;
    /* Fire on the very next call, return or instruction of the main thread. */
    lua_sethook(main_thread, hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

void bt_interrupt_install(lua_State *L) {
    main_thread = L;
    lua_sethook(L, hook, LUA_MASKCOUNT, CHECK_EVERY);
    bt_interrupt_catch(on_signal);
}

void bt_interrupt_quiet(void) { quiet = 1; }
