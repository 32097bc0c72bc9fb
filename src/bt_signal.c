/* Signal names both ways, and a flag a host's signal handler sets. */
#define _POSIX_C_SOURCE 200809L
#include "bt_signal.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    int sig;
    const char *name;
} names[] = {
    {SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"}, {SIGILL, "SIGILL"},
    {SIGTRAP, "SIGTRAP"}, {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},
    {SIGKILL, "SIGKILL"}, {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"},
    {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"}, {SIGCHLD, "SIGCHLD"},
    {SIGCONT, "SIGCONT"}, {SIGSTOP, "SIGSTOP"}, {SIGTSTP, "SIGTSTP"}, {SIGTTIN, "SIGTTIN"},
    {SIGTTOU, "SIGTTOU"}, {SIGURG, "SIGURG"},   {SIGXCPU, "SIGXCPU"}, {SIGXFSZ, "SIGXFSZ"},
    {SIGVTALRM, "SIGVTALRM"}, {SIGPROF, "SIGPROF"}, {SIGSYS, "SIGSYS"},
#ifdef SIGWINCH
    {SIGWINCH, "SIGWINCH"},
#endif
};

#define COUNT (sizeof names / sizeof names[0])

const char *bt_signal_name(int sig) {
    for (size_t i = 0; i < COUNT; i++)
        if (names[i].sig == sig)
            return names[i].name;
    return NULL;
}

int bt_signal_number(const char *name) {
    if (name[0] >= '0' && name[0] <= '9') {
        char *end;
        long n = strtol(name, &end, 10);
        return (*end == '\0' && n > 0 && n < 65) ? (int)n : 0;
    }
    if (strncmp(name, "SIG", 3) == 0)
        name += 3;
    for (size_t i = 0; i < COUNT; i++)
        if (strcmp(names[i].name + 3, name) == 0)
            return names[i].sig;
    return 0;
}

static volatile sig_atomic_t caught;

void bt_signal_note(int sig) {
    if (!caught)
        caught = sig;
}

int bt_signal_caught(void) { return caught; }
