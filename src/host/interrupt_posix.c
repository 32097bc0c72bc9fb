/* The signals a script is interrupted by, on POSIX systems (interrupt_os.h). */
#define _POSIX_C_SOURCE 200809L
#include "interrupt_os.h"

#include <signal.h>
#include <stddef.h>

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
static void catch(int sig, void (*handler)(int)) {
    struct sigaction old, sa;
    if (sigaction(sig, NULL, &old) != 0 || old.sa_handler != SIG_DFL)
        return;
    sa.sa_handler = handler;
    sa.sa_flags = 0; /* no SA_RESTART: a blocking wait returns with EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

void bt_interrupt_catch(void (*handler)(int)) {
    for (size_t i = 0; i < sizeof terminating / sizeof terminating[0]; i++)
        catch(terminating[i], handler);
#ifdef SIGRTMIN
    for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
        catch(sig, handler);
#endif
}
