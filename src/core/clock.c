/* The monotonic clock and sleeping (clock.h). */
#define _POSIX_C_SOURCE 200809L
#include "clock.h"

#include <errno.h>
#include <time.h>

double bt_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int bt_sleep(double seconds) {
    if (!(seconds > 0))
        return 0;
    if (seconds > 1e9)
        seconds = 1e9;
    struct timespec ts;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    return nanosleep(&ts, NULL) != 0 && errno == EINTR;
}
