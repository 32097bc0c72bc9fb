/* Linux's texts parsed (/proc/PID/stat, /proc/stat, the boot id, /proc/PID/cmdline,
 * /proc/locks): pure functions over a buffer, for linux.c, the specs (baton.core_test) and
 * the fuzz targets. They make no system call, so they build and run on any host. */
#ifndef BT_LINUX_TEXT_H
#define BT_LINUX_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "os.h"

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

/* Turn the `len` bytes of a /proc/PID/cmdline in buf (arguments ending in NUL bytes) into
 * one line, the arguments joined by spaces, NUL-terminated at buf[result] (buf has room for
 * len + 1 bytes). Returns its length. */
size_t bt_cmdline_join(char *buf, size_t len);

/* Read /proc/PID/stat (linux.c). Returns 0, or -1 with errno set. */
int bt_proc_stat(pid_t pid, bt_stat *out);

/* Matches any device in bt_locks_parse. */
#define BT_ANY_DEVICE ((unsigned long)-1)

/* The FLOCK locks granted on the file with device major:minor and inode `ino`, in the
 * order listed, one entry per pid (a process holding it through several descriptors is
 * listed once). With major BT_ANY_DEVICE, the inode number alone is matched. Lines for
 * blocked waiters ("->") and other kinds of lock are skipped. Fills at most `max` entries
 * and returns how many there are in all. */
size_t bt_locks_parse(const char *buf, size_t len, unsigned long major, unsigned long minor,
                      unsigned long long ino, bt_lock_holder *out, size_t max);

/* As bt_locks_parse, for the kinds of lock in `kinds` (BT_LOCK_* bits): one entry per kind
 * and pid, a record-lock holder's ranges merged into one entry. */
size_t bt_locks_parse_kinds(const char *buf, size_t len, unsigned long major,
                            unsigned long minor, unsigned long long ino, int kinds,
                            bt_lock_holder *out, size_t max);

#endif
