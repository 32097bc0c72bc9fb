/* The interruptions of a script on Windows (interrupt_os.h): Ctrl-C and Ctrl-Break in its
 * console, taken as SIGINT. The console's control handler runs on a thread of its own; it
 * notes the event and arms the hook (as lua.c's handler does there), sets the core's
 * interrupt event, which ends any wait of the main thread in the core (a lock's wait, a
 * child's, a pause: os/windows_interrupt.h) as a signal's EINTR does on POSIX, and tells the
 * system the event is dealt with, so that baton unwinds the script instead of ending at
 * once. Closing the console, logging off and shutting down still end baton as by default
 * (children started with die_with_parent end with it, their job objects closing). */
#include "interrupt_os.h"

#include <signal.h>

#include "../core/os/windows_interrupt.h"

#define WIN32_LEAN_AND_MEAN
#include <windows.h>

static void (*interrupt_handler)(int);

static BOOL WINAPI on_console_event(DWORD event) {
    if (event != CTRL_C_EVENT && event != CTRL_BREAK_EVENT)
        return FALSE;
    interrupt_handler(SIGINT);
    bt_win_interrupt_set();
    return TRUE;
}

void bt_interrupt_catch(void (*handler)(int)) {
    interrupt_handler = handler;
    bt_win_interrupt_make(); /* from now on the core's waits include it */
    SetConsoleCtrlHandler(on_console_event, TRUE);
}
