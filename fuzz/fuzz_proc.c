#define _GNU_SOURCE
/* What baton reads from /proc about a process: /proc/PID/stat (bt_stat_parse, whose command
 * name may hold anything, spaces and parentheses included), the "btime" line of /proc/stat
 * (bt_btime_parse) and /proc/PID/cmdline (bt_cmdline_join). The input is read as each. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/os/linux_text.h"
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

    char *line = malloc(size + 1);
    CHECK(line != NULL);
    memcpy(line, data, size);
    size_t n = bt_cmdline_join(line, size);
    CHECK(n <= size && strlen(line) == n);
    free(line);
    return 0;
}
