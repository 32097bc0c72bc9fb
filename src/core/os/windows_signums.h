/* Windows' C library defines only the signals of the C standard (and SIGBREAK): the others
 * are given the numbers POSIX systems give them, so that signals.c names them the same
 * everywhere (baton.spawn's p:kill takes a name; Windows ends a process whatever it is). */
#ifndef BT_OS_WINDOWS_SIGNUMS_H
#define BT_OS_WINDOWS_SIGNUMS_H

#define SIGHUP 1
#define SIGQUIT 3
#define SIGTRAP 5
#define SIGBUS 7
#define SIGKILL 9
#define SIGUSR1 10
#define SIGUSR2 12
#define SIGPIPE 13
#define SIGALRM 14
#define SIGCHLD 17
#define SIGCONT 18
#define SIGSTOP 19
#define SIGTSTP 20
#define SIGTTIN 21
#define SIGTTOU 22
#define SIGURG 23
#define SIGXCPU 24
#define SIGXFSZ 25
#define SIGVTALRM 26
#define SIGPROF 27
#define SIGSYS 31

#endif
