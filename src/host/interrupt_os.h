/* How the platform tells of an interruption (interrupt_posix.c, interrupt_windows.c), for
 * interrupt.c. */
#ifndef BT_INTERRUPT_OS_H
#define BT_INTERRUPT_OS_H

/* Have `handler` called with the signal's number for every terminating signal (POSIX: those
 * not ignored nor handled when the program started; Windows: Ctrl-C and Ctrl-Break in the
 * console, as SIGINT). It may run on another thread (Windows), as lua.c's handler may. */
void bt_interrupt_catch(void (*handler)(int));

#endif
