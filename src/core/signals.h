/* Signal names, and the terminating signal a host has caught (so that Lua code deep inside a
 * wait can learn that the script is being stopped). */
#ifndef BT_SIGNAL_H
#define BT_SIGNAL_H

/* "SIGTERM" for 15; NULL for numbers without a name here. */
const char *bt_signal_name(int sig);

/* 15 for "TERM", "SIGTERM" or "15"; 0 when the name is unknown. */
int bt_signal_number(const char *name);

/* Remember a terminating signal; async-signal-safe, called from a host's handler.
 * The first one is kept. */
void bt_signal_note(int sig);

/* The signal noted by bt_signal_note, or 0. */
int bt_signal_caught(void);

#endif
