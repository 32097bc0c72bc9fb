#define _GNU_SOURCE
/* What baton reads from /proc about a process: /proc/PID/stat (bt_stat_parse, whose command
 * name may hold anything, spaces and parentheses included) and the "btime" line of
 * /proc/stat (bt_btime_parse). The input is read as both. */
#include <stdint.h>
#include <string.h>

#include "bt_proc.h"
#include "check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    bt_stat st;
    if (bt_stat_parse(text, size, &st) == 0) {
        CHECK(memchr(text, ')', size) != NULL);
        CHECK(st.state != ' ' && st.state != '\n' && st.state != '\t' && st.state != '\r');
    }
    double t = bt_btime_parse(text, size);
    CHECK(t == -1 || t >= 0);
    if (t >= 0)
        CHECK(size >= 7 && memmem(text, size, "btime ", 6) != NULL);
    return 0;
}
