/* Preloaded (LD_PRELOAD) into the fault suite's workers: catch SIGUSR1, SIGWINCH and
 * SIGCHLD with a handler that does nothing, so that each of them interrupts whatever
 * blocking call the process is in (EINTR), as a host's own handlers would. Without
 * SA_RESTART unless SIGCATCH_RESTART=1. Built by spec/faults/signals_fault.lua. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static void caught(int sig) { (void)sig; }

__attribute__((constructor)) static void install(void) {
    const char *restart = getenv("SIGCATCH_RESTART");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = caught;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = restart && restart[0] == '1' ? SA_RESTART : 0;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGWINCH, &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);
}
