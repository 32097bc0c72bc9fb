/* What /proc says about a process: its start token (which tells a recycled pid from the
 * process that wrote a marker), its command line and start time. The parsers are pure
 * functions over a buffer, so they can be tested and fuzzed without /proc. */
#ifndef BT_PROC_H
#define BT_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Room for the decimal digits of a 192-bit number (at most 58) and a NUL. */
#define BT_TOKEN_LEN 64

typedef struct bt_stat {
    char state;                   /* 'R', 'S', 'T', 'Z', ... */
    unsigned long long starttime; /* field 22: clock ticks after boot */
} bt_stat;

/* Parse the text of /proc/PID/stat. The command name (field 2) may hold spaces and ')',
 * so fields are counted from the last ')'. Returns 0, or -1 when fields are missing. */
int bt_stat_parse(const char *buf, size_t len, bt_stat *out);

/* Parse a boot id ("ad92ebdd-136f-..."): hexadecimal digits with dashes ignored, read as
 * one number of up to 128 bits, into four 32-bit words, most significant first.
 * Surrounding white space is allowed. Returns 0, or -1 when it is not such a number. */
int bt_boot_parse(const char *buf, size_t len, uint32_t out[4]);

/* The boot time from the text of /proc/stat (its "btime" line), in seconds since the epoch;
 * -1 when there is no such line or it does not hold a number. */
double bt_btime_parse(const char *buf, size_t len);

/* The start token as decimal digits: (boot << 64) | starttime, the number Python's
 * filelock writes on Linux. Returns its length; out is NUL-terminated. */
size_t bt_token_format(const uint32_t boot[4], unsigned long long starttime,
                       char out[BT_TOKEN_LEN]);

/* This boot's id, read once. Returns 0, or -1 when /proc does not tell. */
int bt_boot_id(uint32_t out[4]);

/* Read /proc/PID/stat. Returns 0, or -1 with errno set. */
int bt_proc_stat(pid_t pid, bt_stat *out);

/* The start token of process `pid` into out; returns its length, or 0 when /proc cannot
 * tell (no such process, or no boot id). *dead is set to 1 when the process has exited but
 * is not yet reaped (a zombie), also when the token cannot be had. */
size_t bt_proc_token(pid_t pid, char out[BT_TOKEN_LEN], int *dead);

/* The command line of `pid` with its arguments joined by spaces, NUL-terminated in buf.
 * Returns its length, or 0 when it cannot be read (gone, a kernel thread, no access). */
size_t bt_proc_cmdline(pid_t pid, char *buf, size_t cap);

/* Turn the `len` bytes of a /proc/PID/cmdline in buf (arguments ending in NUL bytes) into
 * one line, the arguments joined by spaces, NUL-terminated at buf[result] (buf has room for
 * len + 1 bytes). Returns its length. */
size_t bt_cmdline_join(char *buf, size_t len);

/* When `pid` started, in seconds since the epoch; negative when /proc does not tell. */
double bt_proc_started(pid_t pid);

/* The owner of `pid` (its effective uid, as /proc shows it). Returns 0, or -1. */
int bt_proc_uid(pid_t pid, uid_t *uid);

#endif
