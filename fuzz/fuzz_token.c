/* Boot ids and start tokens: bt_boot_parse reads /proc/sys/kernel/random/boot_id (and what
 * a caller passes to core.start_token), bt_token_format writes the number filelock writes.
 * The input is read as a boot id; its first 24 bytes are also taken as a boot id and a
 * start time, whose token is checked against a plain long-hand conversion. */
#include <stdint.h>
#include <string.h>

#include "../src/core/os/linux_text.h"
#include "check.h"

/* The 192-bit big-endian number in `bytes` as decimal digits, the slow way. */
static void reference(const uint8_t bytes[24], char out[BT_TOKEN_LEN]) {
    uint8_t digits[BT_TOKEN_LEN] = {0}; /* least significant first */
    size_t n = 1;
    for (int i = 0; i < 24; i++) {
        unsigned carry = bytes[i];
        for (size_t d = 0; d < n; d++) {
            unsigned v = digits[d] * 256u + carry;
            digits[d] = (uint8_t)(v % 10);
            carry = v / 10;
        }
        while (carry) {
            CHECK(n < BT_TOKEN_LEN - 1);
            digits[n++] = (uint8_t)(carry % 10);
            carry /= 10;
        }
    }
    while (n > 1 && digits[n - 1] == 0)
        n--;
    for (size_t d = 0; d < n; d++)
        out[d] = (char)('0' + digits[n - 1 - d]);
    out[n] = '\0';
}

static int hex_digit(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint32_t w[4];
    if (bt_boot_parse((const char *)data, size, w) == 0) {
        size_t digits = 0;
        for (size_t i = 0; i < size; i++)
            digits += hex_digit((char)data[i]);
        CHECK(digits >= 1 && digits <= 32);
    }
    if (size >= 24) {
        uint32_t boot[4];
        unsigned long long start = 0;
        for (int i = 0; i < 4; i++)
            boot[i] = (uint32_t)data[4 * i] << 24 | (uint32_t)data[4 * i + 1] << 16 |
                      (uint32_t)data[4 * i + 2] << 8 | data[4 * i + 3];
        for (int i = 16; i < 24; i++)
            start = start << 8 | data[i];
        char got[BT_TOKEN_LEN], want[BT_TOKEN_LEN];
        size_t n = bt_token_format(boot, start, got);
        reference(data, want);
        CHECK(n == strlen(got));
        CHECK(strcmp(got, want) == 0);
    }
    return 0;
}
