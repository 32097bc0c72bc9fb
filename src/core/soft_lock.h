/* Soft locks: the lock is the existence of a marker file, created with O_EXCL and holding
 * the owner in Python filelock's format ("pid\nhost\nstart-token\n", see soft_marker.h), so
 * baton and filelock respect each other's soft locks. A marker whose owner is provably gone
 * is broken (race-free, see soft_lock.c) and taken over; a live owner's marker never is. */
#ifndef BT_SOFT_H
#define BT_SOFT_H

#include <stddef.h>
#include <sys/types.h>

#include "errors.h"
#include "os/os.h"
#include "soft_marker.h"
#include "soft_lease.h"

/* A marker that names no owner is taken for a crashed writer's once it is this old. */
#define BT_SOFT_MALFORMED_AGE 2.0

typedef struct bt_soft {
    int fd;            /* our marker while we hold it; -1 otherwise */
    int dir;           /* its folder (O_PATH) while we hold it, for the release; -1 otherwise */
    pid_t owner;       /* process that created it: a forked child must not remove it */
    dev_t dev;         /* our marker's identity, to remove only our own */
    ino_t ino;
    int record;        /* holder record (holder_records.h); -1 when none */
    bt_watch watch;    /* the release watch on the marker's folder while waiting (os/os.h) */
    int wd;            /* its one watch */
    int spare;         /* our marker, written but not yet named (O_TMPFILE); -1 when none */
    pid_t spare_pid;   /* the process it names */
    double spare_at;   /* when it was written (its age matters to other hosts' stale_after) */
    int no_tmpfile;    /* the folder's file system cannot make or link unnamed files */
    int no_watch;      /* the watch's descriptor was needed for attempts: wait without one */
    int make_parents;
    mode_t mode;       /* permission bits of the marker (lock_path.h: BT_MODE_EXACT) */
    double stale_after; /* seconds after which another host's marker is stale; < 0: never */
    /* The last look for processes holding an ownerless marker open (it is costly). */
    dev_t scan_dev;
    ino_t scan_ino;
    double scan_at;
    int scan_found;
    /* A lease (filelock's SoftFileLease): its length and heartbeat in seconds (lease <= 0:
     * a plain soft lock), the marker it publishes, and its heartbeat while held. */
    double lease, every;
    pid_t lease_pid;   /* the process lease_text names */
    size_t lease_len;  /* 0: none made yet for this acquisition */
    char lease_text[BT_HOST_LEN + 2 * BT_TOKEN_LEN + 160];
    bt_beat *beat;
    int force;         /* an operator's break: any marker is taken for stale (bt_soft_break) */
    char why[256];     /* a refusal's detail, read by the caller before its next attempt
                        * (a field, not thread-local: mingw's emulated TLS needs libgcc's DLL) */
} bt_soft;

void bt_soft_init(bt_soft *l, mode_t mode, int make_parents, double stale_after);

/* Make it a lease of `lease` seconds refreshed every `every` seconds (0 < every < lease). */
void bt_soft_set_lease(bt_soft *l, double lease, double every);

/* 1 when this lease was lost while held (why filled in, reason its short name), else 0. */
int bt_soft_lost(const bt_soft *l, char *why, size_t cap, const char **reason);

/* Readable once a held lease is lost; -1 when there is none. */
int bt_soft_lostfd(const bt_soft *l);

/* One attempt without blocking: create the marker, or break a stale one and create it.
 * BT_OK (held), BT_BUSY (someone holds it), or BT_FAIL with *err filled in. */
int bt_soft_try(bt_soft *l, const char *path, bt_err *err);

/* Wait up to `seconds` for the marker to be removed (inotify on its folder), or sleep when
 * no watch can be had. The first call only arms the watch and returns at once. Returns 1
 * when woken by the marker's removal, else 0. */
int bt_soft_wait(bt_soft *l, const char *path, double seconds);

int bt_soft_pollfd(const bt_soft *l);

/* 1 when this process holds the lock (not a forked child that inherited the object). */
int bt_soft_held(const bt_soft *l);

/* Publish this holder's note and since-time for baton.holder. */
void bt_soft_record(bt_soft *l, const char *note, size_t note_len);

/* Remove the marker if it is still ours (same device and inode) and close it. A forked
 * child only closes its copy. Idempotent. */
void bt_soft_release(bt_soft *l, const char *path);

/* What a marker says, for baton.holder. */
typedef struct bt_soft_info {
    int named;          /* 1 when the marker names an owner (m is filled) */
    bt_marker m;
    int this_host;      /* the owner's host is this one */
    int alive;          /* 1 alive, 0 gone, -1 cannot tell (another host) */
    int stale;          /* a waiter would break it now */
    int foreign;        /* a file that is no marker (not empty, names nobody): never broken */
    int strict;         /* the sentinel of a strict soft lock (soft_strict.h) */
    int believed;       /* 0 when it names a live process of another user than the file's
                           owner: a forgery, never taken as the holder nor broken */
    uid_t owner_uid;    /* when not believed: the user of the process it names */
    double mtime;       /* when it was written, seconds since the epoch */
    size_t size;
    dev_t dev;
    ino_t ino;
    uid_t uid;          /* the file's owner */
} bt_soft_info;

/* The name of user `uid` into out: 1, or 0 (out empty) when it has none. */
int bt_soft_user_name(uid_t uid, char *out, size_t cap);

/* "uid 1001 (alice)", or "uid 1001" when the user has no name, into out. */
void bt_soft_describe_uid(uid_t uid, char *out, size_t cap);

/* Read the marker at `path`. Returns 1 with *info filled, 0 when there is no marker (no
 * file, or not a regular file), or -1 with errno set. Never breaks anything. */
int bt_soft_inspect(const char *path, double stale_after, bt_soft_info *info);

/* An operator's break (filelock's force_break): remove the marker at `path` whoever holds
 * it, race-free as a stale one is broken. Never a file that is no marker, nor a strict
 * lock's sentinel. BT_OK (removed, or gone meanwhile), BT_BUSY, or BT_FAIL. */
int bt_soft_break(const char *path, bt_err *err);

/* 64 unpredictable bits (getrandom(2), else /dev/urandom, else the clock and pid). */
unsigned long long bt_soft_random(void);

/* This process's host name, as written into markers. */
const char *bt_soft_host(void);

#endif
