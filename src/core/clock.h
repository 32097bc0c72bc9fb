/* Monotonic time and sleeping: deadlines never move with the wall clock. */
#ifndef BT_CLOCK_H
#define BT_CLOCK_H

/* Seconds on CLOCK_MONOTONIC. */
double bt_now(void);

/* Sleep for up to `seconds`; returns early (non-zero) when a signal arrives, so a host's
 * signal handling gets its chance to run. */
int bt_sleep(double seconds);

#endif
