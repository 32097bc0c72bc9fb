/* Terminating signals while a script runs: note them, stop the children, raise (interrupt.h). */
#define _POSIX_C_SOURCE 200809L
#include "interrupt.h"

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

/* Signals sent from outside whose default action ends the process. Those the kernel raises
 * for a fault of the process itself (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS, SIGTRAP,
 * SIGABRT) keep their default: nothing can safely carry on after them, and a child started
 * with die_with_parent is killed by the kernel then. */
static const int terminating[] = {
    SIGHUP,  SIGINT,  SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2,   SIGPIPE, SIGALRM,
    SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF,
#ifdef SIGSTKFLT
    SIGSTKFLT,
#endif
#ifdef SIGPOLL
    SIGPOLL,
#endif
#ifdef SIGPWR
    SIGPWR,
#endif
};

/* Catch `sig` unless it was ignored or already handled when the program started. */
static void catch(int sig) {
    struct sigaction old, sa;
    if (sigaction(sig, NULL, &old) != 0 || old.sa_handler != SIG_DFL)
        return;
    sa.sa_handler = on_signal;
    sa.sa_flags = 0; /* no SA_RESTART: a blocking wait returns with EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

void bt_interrupt_install(lua_State *L) {
    main_thread = L;
    lua_sethook(L, hook, LUA_MASKCOUNT, CHECK_EVERY);
    for (size_t i = 0; i < sizeof terminating / sizeof terminating[0]; i++)
        catch(terminating[i]);
#ifdef SIGRTMIN
    for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
        catch(sig);
#endif
}

void bt_interrupt_quiet(void) { quiet = 1; }
