/* The process's interrupt event (windows_interrupt.h). */
#include "windows_interrupt.h"

static HANDLE volatile interrupt_event;

HANDLE bt_win_interrupt_make(void) {
    HANDLE h = interrupt_event;
    if (h)
        return h;
    HANDLE made = CreateEventW(NULL, TRUE, FALSE, NULL); /* manual reset, not inherited */
    if (!made)
        return NULL;
    h = InterlockedCompareExchangePointer((PVOID volatile *)&interrupt_event, made, NULL);
    if (h) { /* another thread made one first */
        CloseHandle(made);
        return h;
    }
    return made;
}

HANDLE bt_win_interrupt_event(void) { return interrupt_event; }

void bt_win_interrupt_set(void) {
    HANDLE h = bt_win_interrupt_make();
    if (h)
        SetEvent(h);
}

int bt_win_interrupted(void) {
    HANDLE h = interrupt_event;
    return h && WaitForSingleObject(h, 0) == WAIT_OBJECT_0;
}

int bt_win_wait_interruptible(HANDLE h, DWORD ms) {
    HANDLE set[2];
    DWORD n = 0;
    if (h)
        set[n++] = h;
    HANDLE ev = interrupt_event;
    if (ev)
        set[n++] = ev;
    if (n == 0) {
        Sleep(ms);
        return 1;
    }
    DWORD w = WaitForMultipleObjects(n, set, FALSE, ms);
    if (w == WAIT_TIMEOUT)
        return 1;
    if (w == WAIT_OBJECT_0 && h)
        return 0;
    if (w < WAIT_OBJECT_0 + n)
        return -1;
    return -2;
}
