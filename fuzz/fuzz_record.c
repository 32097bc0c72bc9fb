/* Holder record tables (bt_record_scan): a file in another process's folder, which its owner
 * may fill with anything. The input is laid over a zeroed table from its start (header,
 * then 256-byte slots). It is searched for the pid and token its header names and for the
 * device and inode of the slot its last byte picks, as one read and as two reads that
 * differ in one byte. */
#include <stdint.h>
#include <string.h>

#include "../src/core/holder_records.h"
#include "check.h"

static unsigned char first[BT_RECORD_TABLE_SIZE], second[BT_RECORD_TABLE_SIZE];

static uint64_t u64_at(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void search(size_t len, pid_t pid, const char *token, uint64_t dev, uint64_t ino) {
    bt_record_info info;
    int unsettled = 0;
    if (bt_record_scan(first, second, len, pid, token, (dev_t)dev, (ino_t)ino, &info,
                       &unsettled)) {
        CHECK(len == BT_RECORD_TABLE_SIZE);
        CHECK(info.note_len <= BT_RECORD_NOTE);
        CHECK(info.note[info.note_len] == '\0');
        CHECK(info.kind != 0);
    }
    CHECK(unsettled == 0 || unsettled == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t n = size < BT_RECORD_TABLE_SIZE ? size : BT_RECORD_TABLE_SIZE;
    memset(first, 0, sizeof first);
    memcpy(first, data, n);
    memcpy(second, first, sizeof second);
    /* The header: magic[8], pid (int64), token[64]. */
    int64_t pid64;
    memcpy(&pid64, first + 8, sizeof pid64);
    char token[BT_TOKEN_LEN];
    memcpy(token, first + 16, sizeof token);
    token[BT_TOKEN_LEN - 1] = '\0';
    pid_t pid = (pid_t)pid64;
    /* The slot layout: seq, used, kind, shared (uint32 each), dev, ino (uint64). */
    unsigned pick = size ? data[size - 1] % 127 : 0;
    const unsigned char *slot = first + 256 + 256 * (size_t)pick;
    uint64_t dev = u64_at(slot + 16), ino = u64_at(slot + 24);

    search(BT_RECORD_TABLE_SIZE, pid, token, dev, ino);
    search(n, pid, token, dev, ino);
    /* a second read in which a writer changed one byte */
    if (size > 0) {
        second[data[0] * 128u % BT_RECORD_TABLE_SIZE] ^= 0x5a;
        search(BT_RECORD_TABLE_SIZE, pid, token, dev, ino);
    }
    return 0;
}
