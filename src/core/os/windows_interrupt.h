/* The process's interrupt event on Windows: a manual-reset event a host's console handler
 * sets on Ctrl-C (src/host/interrupt_windows.c), and that every wait of the core without a
 * short bound waits on too, so that an interrupt ends the wait as EINTR does on POSIX. A
 * module loaded by lua.exe has none: its waits are as they were. */
#ifndef BATON_WINDOWS_INTERRUPT_H
#define BATON_WINDOWS_INTERRUPT_H

#define WIN32_LEAN_AND_MEAN
#include <windows.h>

/* The event, made on the first call; NULL when it cannot be made. */
HANDLE bt_win_interrupt_make(void);

/* The event if one was made, else NULL. */
HANDLE bt_win_interrupt_event(void);

/* Sets the event (made first if need be): every wait on it ends. */
void bt_win_interrupt_set(void);

/* Whether the event exists and is set. */
int bt_win_interrupted(void);

/* Waits up to ms milliseconds (INFINITE: no limit) for h (NULL: nothing but the time) or
 * the interrupt event: 0 when h was signalled, 1 when the time ran out, -1 when the
 * interrupt came, -2 on a failure (GetLastError()). */
int bt_win_wait_interruptible(HANDLE h, DWORD ms);

#endif
