/* Holder records: what a baton process holds, since when and with what note, published so
 * that `baton.holder` in another process can show it. Nothing is ever written into the lock
 * file or beside it. Each process keeps one small table file, named after its pid and
 * start token, in a folder of its user's:
 *     /dev/shm/baton-UID/PID-TOKEN   (or /tmp/baton-UID/ when /dev/shm is not usable)
 * mapped into memory, so recording a lock is a few stores and no system call. A record only
 * adds detail to a holder the kernel (or a soft marker) already names: a reader looks up the
 * table of that pid and start token, and matches the lock file's device and inode. Tables
 * of processes that are gone are removed by the next baton process that creates one.
 * The table's blocks are reserved (posix_fallocate) before it is mapped: where neither
 * folder has room for it (a full or read-only /dev/shm and /tmp, or none at all), the
 * process runs without one and its records are simply not published. */
#ifndef BT_RECORD_H
#define BT_RECORD_H

#include <stddef.h>
#include <sys/types.h>

#include "os/os.h"

enum { BT_RECORD_FLOCK = 1, BT_RECORD_SOFT = 2 };

/* Notes longer than this are kept cut short. */
#define BT_RECORD_NOTE 200

/* Publish that this process holds the file dev/ino (kind BT_RECORD_*, shared or not) from
 * now on, with `note` (may be NULL). Returns a record id for bt_record_drop, or -1 when no
 * table can be had (records are a convenience: locking never fails for want of one). */
int bt_record_add(int kind, int shared, dev_t dev, ino_t ino, const char *note,
                  size_t note_len);

/* Withdraw a record. Ignores -1 and records made by another process (a forked child
 * dropping what its parent published). */
void bt_record_drop(int id);

/* A published record, as read by bt_record_find. */
typedef struct bt_record_info {
    int kind;
    int shared;
    double since;                    /* seconds since the epoch */
    char note[BT_RECORD_NOTE + 1];   /* NUL-terminated; "" when none */
    size_t note_len;
    int has_note;
} bt_record_info;

/* Look up what process `pid` (whose start token is `token`) published about dev/ino.
 * Returns 1 with *out filled (the earliest such record), or 0 when there is none. With an
 * empty token (the system does not tell it), every live table of that pid is searched. */
int bt_record_find(pid_t pid, const char *token, dev_t dev, ino_t ino, bt_record_info *out);

/* The processes whose records say they hold the file dev/ino (kind BT_RECORD_*), found in
 * every user's tables, as lock holders (kind BT_LOCK_FLOCK). Fills at most `max` and
 * returns how many there are in all. For systems without a kernel lock table to ask: a
 * holder that is not a baton process is not seen. */
long bt_record_holders(int kind, dev_t dev, ino_t ino, bt_lock_holder *out, size_t max);

/* The size of a table file. */
#define BT_RECORD_TABLE_SIZE (256 * 128)

/* Search the content of a table file (len bytes, read twice into `first` and `second`, one
 * read after the other) for what process `pid` with start token `token` published about
 * dev/ino. Returns 1 with *out filled (the earliest such record), or 0. *unsettled is set
 * when a matching record was being written during the reads (read again to see it). Pure,
 * for the untrusted bytes of a file another process wrote. */
int bt_record_scan(const void *first, const void *second, size_t len, pid_t pid,
                   const char *token, dev_t dev, ino_t ino, bt_record_info *out,
                   int *unsettled);

/* Called when a Lua state that loaded baton closes: when no state uses the table any more
 * and it holds no records, its file is removed. */
void bt_record_retain(void);
void bt_record_release(void);

#endif
