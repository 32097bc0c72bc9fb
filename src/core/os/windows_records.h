/* Holder records on Windows (windows_records.c): what a baton process holds, since when,
 * with what note and command line, kept in named shared memory of the lock file's own
 * (Local\baton-VOLUME-INDEX, from the file's volume serial and file index), which lives as
 * long as a holder or a reader has it open. bt_record_drop (holder_records.h) withdraws a
 * record. */
#ifndef BT_OS_WINDOWS_RECORDS_H
#define BT_OS_WINDOWS_RECORDS_H

#include "windows.h"

#include "../holder_records.h"

/* Longest command line kept (UTF-8 bytes); a longer one is kept cut short. */
#define BT_WIN_RECORD_CMD 1000

/* A record as a reader finds it. */
typedef struct bt_win_record {
    bt_record_info info;
    long pid;
    char cmd[BT_WIN_RECORD_CMD + 1]; /* NUL-terminated; "" when none */
    size_t cmd_len;
} bt_win_record;

/* Publish that this process holds the file open as `file` (kind BT_RECORD_*), from now on,
 * with `note` (may be NULL) and this process's command line. A record id for
 * bt_record_drop, or -1 when none can be had (locking never fails for want of one). */
int bt_win_record_add(int kind, int shared, HANDLE file, const char *note, size_t note_len);

/* The live records of kind `kind` (0: any) about the file `id`, from processes that still
 * run with the start time they recorded, into out (at most max): how many there are in all.
 * With pid > 0, only that process's. */
int bt_win_records(const bt_win_id *id, int kind, long pid, bt_win_record *out, int max);

/* The start token of process `pid` (its creation time in 100 ns ticks) into out: its length,
 * or 0 when the process is gone or cannot be asked. *started (may be NULL) is set to its
 * start in seconds since the epoch. */
size_t bt_win_process_token(long pid, char out[BT_TOKEN_LEN], double *started);

/* 1 when no process `pid` runs on this host (none there, or it has exited); 0 when one
 * does, or may (it cannot be asked). */
int bt_win_gone(long pid);

#endif
