/* The release watch (os/os.h) on Windows, which tells no waiter of a close or an unlock:
 * never armed, a wait is the pause itself, and the caller backs its attempts off (as
 * lua/baton/wait.lua does from 0.5 ms to 10 ms). The read/write and semaphore kinds wait
 * through it. */
#include "os.h"

#include "../clock.h"

int bt_watch_wait(bt_watch *w, const char *const *paths, int folder, const char *entry,
                  double seconds) {
    (void)w;
    (void)paths;
    (void)folder;
    (void)entry;
    bt_sleep(seconds);
    return BT_WOKE_NOTHING;
}

int bt_watch_retarget(bt_watch *w, int i, const char *path) {
    (void)w;
    (void)i;
    (void)path;
    return 0;
}

int bt_watch_fd(const bt_watch *w) {
    (void)w;
    return -1;
}

void bt_watch_stop(bt_watch *w) { (void)w; }

void bt_watch_close(bt_watch *w) { (void)w; }
