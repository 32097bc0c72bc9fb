/* /proc/locks lines (bt_locks_parse): the kernel's text, in whatever shape another kernel
 * version or a file system gives it. Beyond memory safety: the count of holders does not
 * depend on how many entries the caller has room for, the entries are a prefix of the
 * full list, and no pid is listed twice. */
#include <stdint.h>
#include <string.h>

#include "../src/core/os/linux_text.h"
#include "check.h"

#define ROOM 64

/* The file the seed corpus names, and any device. */
static const struct {
    unsigned long major, minor;
    unsigned long long ino;
} queries[] = {
    {0xfe, 0x00, 10952820ULL},
    {BT_ANY_DEVICE, 0, 10952820ULL},
    {0x00, 0x2a, 123ULL},
};

static void one_query(const char *text, size_t size, unsigned long major, unsigned long minor,
                      unsigned long long ino) {
    bt_lock_holder all[ROOM], few[3];
    size_t total = bt_locks_parse(text, size, major, minor, ino, all, ROOM);
    CHECK(bt_locks_parse(text, size, major, minor, ino, NULL, 0) == total);
    CHECK(bt_locks_parse(text, size, major, minor, ino, few, 3) == total);
    size_t listed = total < ROOM ? total : ROOM;
    for (size_t i = 0; i < listed; i++) {
        CHECK(all[i].pid >= 0);
        CHECK(all[i].shared == 0 || all[i].shared == 1);
        if (i < 3)
            CHECK(few[i].pid == all[i].pid && few[i].shared == all[i].shared);
        for (size_t j = 0; j < i; j++)
            CHECK(all[i].pid == 0 || all[j].pid != all[i].pid);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    for (size_t q = 0; q < sizeof queries / sizeof queries[0]; q++)
        one_query(text, size, queries[q].major, queries[q].minor, queries[q].ino);
    /* Holders on one device are among those on any device. */
    bt_lock_holder one[ROOM], any[ROOM];
    size_t n1 = bt_locks_parse(text, size, 0xfe, 0x00, 10952820ULL, one, ROOM);
    size_t na = bt_locks_parse(text, size, BT_ANY_DEVICE, 0, 10952820ULL, any, ROOM);
    CHECK(na >= n1);
    return 0;
}
