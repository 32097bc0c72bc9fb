/* Holder records: the per-process table of what it holds, since when, with what note. */
#define _GNU_SOURCE
#include "holder_records.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pid.h"

#define MAGIC "baton-h1"
#define SLOT_SIZE 256
#define SLOTS 127
#define TABLE_SIZE (SLOT_SIZE * (SLOTS + 1))
_Static_assert(TABLE_SIZE == BT_RECORD_TABLE_SIZE, "the table size is published in holder_records.h");

typedef union header {
    struct {
        char magic[8];
        int64_t pid;
        char token[BT_TOKEN_LEN];
    } h;
    char pad[SLOT_SIZE];
} header;

/* One record. A reader copies it between two reads of `seq` and keeps the copy only when
 * both saw the same even number: the writer makes it odd while it writes. */
typedef union slot {
    struct {
        uint32_t seq;
        uint32_t used; /* claimed by a writer of the owning process */
        uint32_t kind; /* 0 while empty */
        uint32_t shared;
        uint64_t dev;
        uint64_t ino;
        double since;
        uint32_t note_len;
        uint32_t has_note;
        char note[BT_RECORD_NOTE];
    } s;
    char pad[SLOT_SIZE];
} slot;

typedef struct table {
    header head;
    slot slots[SLOTS];
} table;

/* Folders tried in turn, for the writer and the reader alike. */
static const char *const BASES[] = {"/dev/shm", "/tmp"};

static struct {
    int state;     /* 0 none yet, 1 being made, 2 ready, -1 unavailable */
    pid_t pid;     /* the process that made the table: a forked child makes its own */
    int gen;       /* tells this table's record ids from an earlier table's */
    table *t;
    int refs;      /* Lua states that loaded the module */
    int keep;      /* 1 + the descriptor that keeps an own-token table's lock, else 0 */
    char path[192];
} g;

static long parse_long(const char *s, const char *end) {
    long v = 0;
    if (s == end)
        return -1;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9' || v > 400000000L)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

/* A folder we may trust for records of `uid`: a real folder of that user that nobody else
 * may write into. */
static int trusted_folder(int dirfd_or_cwd, const char *path, uid_t uid) {
    struct stat st;
    return fstatat(dirfd_or_cwd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
           st.st_uid == uid && (st.st_mode & 022) == 0;
}

/* Where the system cannot tell a process's start token (a portable build with no /proc),
 * a table is named with a random token of its own, OWN_TOKEN and 16 hexadecimal digits,
 * and its owner keeps an exclusive flock(2) lock on it while it lives: a reader that can
 * take a shared one has found the table of a process that is gone, whatever its pid names
 * now. */
#define OWN_TOKEN 'r'

static void own_token(char out[BT_TOKEN_LEN]) {
    unsigned long long v = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 || read(fd, &v, sizeof v) != (ssize_t)sizeof v) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = ((unsigned long long)ts.tv_sec << 30) ^ (unsigned long long)ts.tv_nsec ^
            ((unsigned long long)bt_pid() << 44);
    }
    if (fd >= 0)
        close(fd);
    snprintf(out, BT_TOKEN_LEN, "%c%016llx", OWN_TOKEN, v);
}

/* The pid a table's name gives, with *token pointing at its token; -1 when it is no
 * table's name. An own-token table's name starts with OWN_TOKEN ("r123-r9f..."), so that a
 * build that tells start tokens, sweeping the same folder, never takes it for its own. */
static long name_pid(const char *name, const char **token) {
    const char *dash = strchr(name, '-');
    if (!dash)
        return -1;
    const char *digits = name[0] == OWN_TOKEN ? name + 1 : name;
    *token = dash + 1;
    if ((digits != name) != ((*token)[0] == OWN_TOKEN))
        return -1;
    return parse_long(digits, dash);
}

/* 1 when the table `name` (of process `pid`, named with `token`) in the folder dfd belongs
 * to a process that is gone, or to an earlier process of that pid. */
static int table_gone(int dfd, const char *name, pid_t pid, const char *token) {
    if (token[0] == OWN_TOKEN) {
        int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
            return 0;
        int gone = flock(fd, LOCK_SH | LOCK_NB) == 0; /* its owner holds it while it lives */
        close(fd);
        return gone;
    }
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return 1;
    char now[BT_TOKEN_LEN];
    int dead;
    return bt_proc_token(pid, now, &dead) > 0 && (dead || strcmp(now, token) != 0);
}

/* Remove the tables of processes that are gone (or whose pid now names another process). */
static void sweep(int dfd) {
    int fd = dup(dfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *token;
        long pid = name_pid(e->d_name, &token);
        if (pid <= 0)
            continue;
        if (table_gone(dirfd(d), e->d_name, (pid_t)pid, token))
            unlinkat(dfd, e->d_name, 0);
    }
    closedir(d);
}

/* Give the table file its whole size, with every block allocated. A size set with ftruncate
 * alone is a hole: on a full file system (a container's small /dev/shm) the first store into
 * a page of the mapping that has no block behind it kills the process with SIGBUS. Returns
 * 0, or -1 when the space cannot be had (ENOSPC, EROFS, ...): then no table lives here. */
static int reserve(int fd) {
    int r = bt_os_reserve(fd, TABLE_SIZE);
    if (r != 0) {
        errno = r;
        return -1;
    }
    struct stat st;
    return fstat(fd, &st) == 0 && st.st_size == TABLE_SIZE &&
                   (off_t)st.st_blocks * 512 >= (off_t)TABLE_SIZE
               ? 0
               : -1;
}

/* Create and map this process's table. Returns 0, or -1 when no folder can hold one. */
static int make_table(void) {
    char token[BT_TOKEN_LEN];
    int dead;
    pid_t pid = bt_pid();
    uid_t uid = geteuid();
    int own = bt_proc_token(pid, token, &dead) == 0;
    if (own)
        own_token(token); /* kept alive by a lock of ours on the table, not told by the system */
    for (size_t b = 0; b < sizeof BASES / sizeof BASES[0]; b++) {
        char dir[64];
        snprintf(dir, sizeof dir, "%s/baton-%lu", BASES[b], (unsigned long)uid);
        if (mkdir(dir, 0755) != 0 && errno != EEXIST)
            continue;
        if (!trusted_folder(AT_FDCWD, dir, uid))
            continue;
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
            continue;
        sweep(dfd);
        char name[96], made[97];
        snprintf(name, sizeof name, "%s%ld-%s", own ? "r" : "", (long)pid, token);
        /* An own-token table is made under a hidden name and given its own once it is
         * locked: another process's sweep must never find it unlocked, and so gone. */
        snprintf(made, sizeof made, "%s%s", own ? "." : "", name);
        int fd = openat(dfd, made, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0 && errno == EEXIST && unlinkat(dfd, made, 0) == 0)
            fd = openat(dfd, made, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0) {
            close(dfd);
            continue;
        }
        void *map = MAP_FAILED;
        if (reserve(fd) == 0 && (!own || flock(fd, LOCK_EX | LOCK_NB) == 0))
            map = mmap(NULL, TABLE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (map != MAP_FAILED && own && renameat(dfd, made, dfd, name) != 0) {
            munmap(map, TABLE_SIZE);
            map = MAP_FAILED;
        }
        if (own && map != MAP_FAILED)
            g.keep = fd + 1;
        else
            close(fd);
        if (map == MAP_FAILED) {
            unlinkat(dfd, made, 0);
            close(dfd);
            continue;
        }
        close(dfd);
        /* A forked child must never write into its parent's table. */
        (void)bt_os_dontfork(map, TABLE_SIZE);
        table *t = map;
        t->head.h.pid = pid;
        memcpy(t->head.h.token, token, sizeof token);
        memcpy(t->head.h.magic, MAGIC, 8);
        g.t = t;
        g.pid = pid;
        g.gen = (g.gen + 1) & 0xffff;
        snprintf(g.path, sizeof g.path, "%s/%s", dir, name);
        return 0;
    }
    return -1;
}

/* The table of this process, made on first use. NULL when none can be had. */
static table *own_table(void) {
    pid_t pid = bt_pid();
    int state = __atomic_load_n(&g.state, __ATOMIC_ACQUIRE);
    if (state != 0 && g.pid != pid) {
        /* A forked child: the parent's mapping is not inherited (MADV_DONTFORK), and its
         * copy of the descriptor that keeps the parent's table alive is not needed. */
        if (g.keep > 0)
            close(g.keep - 1);
        g.keep = 0;
        g.t = NULL;
        g.pid = pid;
        __atomic_store_n(&g.state, 0, __ATOMIC_RELEASE);
        state = 0;
    }
    if (state == 2)
        return g.t;
    if (state != 0)
        return NULL; /* unavailable, or another thread is making it */
    int expected = 0;
    if (!__atomic_compare_exchange_n(&g.state, &expected, 1, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return expected == 2 ? g.t : NULL;
    g.pid = pid;
    int ok = make_table() == 0;
    __atomic_store_n(&g.state, ok ? 2 : -1, __ATOMIC_RELEASE);
    return ok ? g.t : NULL;
}

static double wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int bt_record_add(int kind, int shared, dev_t dev, ino_t ino, const char *note,
                  size_t note_len) {
    table *t = own_table();
    if (!t)
        return -1;
    for (int i = 0; i < SLOTS; i++) {
        slot *s = &t->slots[i];
        uint32_t free_slot = 0;
        if (!__atomic_compare_exchange_n(&s->s.used, &free_slot, 1, 0, __ATOMIC_ACQUIRE,
                                         __ATOMIC_RELAXED))
            continue;
        uint32_t seq = s->s.seq;
        __atomic_store_n(&s->s.seq, seq + 1, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_RELEASE);
        s->s.kind = (uint32_t)kind;
        s->s.shared = shared ? 1 : 0;
        s->s.dev = (uint64_t)dev;
        s->s.ino = (uint64_t)ino;
        s->s.since = wall_now();
        if (note_len > BT_RECORD_NOTE)
            note_len = BT_RECORD_NOTE;
        s->s.has_note = note != NULL;
        s->s.note_len = note ? (uint32_t)note_len : 0;
        if (note)
            memcpy(s->s.note, note, note_len);
        __atomic_store_n(&s->s.seq, seq + 2, __ATOMIC_RELEASE);
        return g.gen * (SLOTS + 1) + i;
    }
    return -1; /* more than SLOTS locks held at once: the rest go unrecorded */
}

void bt_record_drop(int id) {
    if (id < 0 || __atomic_load_n(&g.state, __ATOMIC_ACQUIRE) != 2 || g.pid != bt_pid() ||
        id / (SLOTS + 1) != g.gen)
        return;
    slot *s = &g.t->slots[id % (SLOTS + 1)];
    uint32_t seq = s->s.seq;
    __atomic_store_n(&s->s.seq, seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    s->s.kind = 0;
    __atomic_store_n(&s->s.seq, seq + 2, __ATOMIC_RELEASE);
    __atomic_store_n(&s->s.used, 0, __ATOMIC_RELEASE);
}

/* The earliest record in one table about dev/ino, from two reads of the table's file made
 * one after the other. A slot counts only where both reads agree and its sequence number is
 * even: a writer makes it odd before it changes anything, so a slot that was being written
 * during either read differs between them or is odd. Pure (memcpy out of the buffers, so
 * they need no alignment): the reader of a file's untrusted bytes, fuzzed in fuzz/. */
int bt_record_scan(const void *first, const void *second, size_t len, pid_t pid,
                   const char *token, dev_t dev, ino_t ino, bt_record_info *out,
                   int *unsettled) {
    const unsigned char *a = first, *b = second;
    header h;
    *unsettled = 0;
    if (len != TABLE_SIZE)
        return 0;
    memcpy(&h, a, sizeof h);
    if (memcmp(h.h.magic, MAGIC, 8) != 0 || h.h.pid != pid ||
        strncmp(h.h.token, token, BT_TOKEN_LEN) != 0)
        return 0;
    int found = 0;
    for (size_t i = 0; i < SLOTS; i++) {
        size_t at = sizeof(header) + i * sizeof(slot);
        slot c;
        memcpy(&c, a + at, sizeof c);
        if (c.s.kind == 0 || c.s.dev != (uint64_t)dev || c.s.ino != (uint64_t)ino)
            continue;
        if ((c.s.seq & 1) || memcmp(a + at, b + at, sizeof c) != 0) {
            *unsettled = 1;
            continue;
        }
        if (found && !(c.s.since < out->since))
            continue;
        found = 1;
        out->kind = (int)c.s.kind;
        out->shared = c.s.shared != 0;
        out->since = c.s.since;
        out->has_note = c.s.has_note != 0;
        out->note_len = c.s.note_len <= BT_RECORD_NOTE ? c.s.note_len : BT_RECORD_NOTE;
        memcpy(out->note, c.s.note, out->note_len);
        out->note[out->note_len] = '\0';
    }
    return found;
}

/* Read the whole table file twice. Reading (rather than mapping) it means a file cut short
 * by its owner meanwhile makes a short read here, never a SIGBUS. */
static int read_twice(int fd, unsigned char *a, unsigned char *b) {
    for (int pass = 0; pass < 2; pass++) {
        unsigned char *buf = pass ? b : a;
        size_t n = 0;
        while (n < TABLE_SIZE) {
            ssize_t r = pread(fd, buf + n, TABLE_SIZE - n, (off_t)n);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                return -1;
            n += (size_t)r;
        }
    }
    return 0;
}

/* A table file's records about dev/ino: 1 found, 0 none (or not a table we trust). */
static int search_file(int fd, uid_t uid, pid_t pid, const char *token, dev_t dev, ino_t ino,
                       bt_record_info *out) {
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != uid ||
        st.st_size != TABLE_SIZE)
        return 0;
    unsigned char *a = malloc(2 * (size_t)TABLE_SIZE);
    if (!a)
        return 0;
    int found = 0, unsettled = 1;
    /* Read again while a record about the file is being written; one that keeps changing
     * is left out. */
    for (int tries = 0; tries < 100 && unsettled; tries++) {
        if (read_twice(fd, a, a + TABLE_SIZE) != 0)
            break;
        found = bt_record_scan(a, a + TABLE_SIZE, TABLE_SIZE, pid, token, dev, ino, out,
                               &unsettled);
    }
    free(a);
    return found;
}

/* Calls fn(fd, uid, pid, token, ctx) on every live table of process `pid` (of every
 * process when 0), in every user's folder, until fn returns nonzero; returns that. For
 * where the system tells neither a process's owner nor its start token. */
typedef int table_fn(int fd, uid_t uid, pid_t pid, const char *token, void *ctx);

static int each_in_folder(int dfd, uid_t uid, pid_t want, table_fn *fn, void *ctx) {
    int fd = dup(dfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    int r = 0;
    struct dirent *e;
    while (!r && (e = readdir(d)) != NULL) {
        const char *token;
        long pid = name_pid(e->d_name, &token);
        if (pid <= 0 || (want > 0 && pid != (long)want) ||
            table_gone(dfd, e->d_name, (pid_t)pid, token))
            continue;
        int tfd = openat(dfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (tfd < 0)
            continue;
        r = fn(tfd, uid, (pid_t)pid, token, ctx);
        close(tfd);
    }
    closedir(d);
    return r;
}

static int each_table(pid_t want, table_fn *fn, void *ctx) {
    int r = 0;
    for (size_t b = 0; !r && b < sizeof BASES / sizeof BASES[0]; b++) {
        DIR *base = opendir(BASES[b]);
        if (!base)
            continue;
        struct dirent *e;
        while (!r && (e = readdir(base)) != NULL) {
            if (strncmp(e->d_name, "baton-", 6) != 0)
                continue;
            long uid = parse_long(e->d_name + 6, e->d_name + strlen(e->d_name));
            if (uid < 0 || !trusted_folder(dirfd(base), e->d_name, (uid_t)uid))
                continue;
            int dfd = openat(dirfd(base), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (dfd < 0)
                continue;
            r = each_in_folder(dfd, (uid_t)uid, want, fn, ctx);
            close(dfd);
        }
        closedir(base);
    }
    return r;
}

typedef struct finding {
    dev_t dev;
    ino_t ino;
    int kind;                /* holders: the kind of record counted; 0 for any */
    bt_record_info *info;
    bt_lock_holder *out;     /* holders: where they go */
    size_t max;
    long total;
} finding;

static int found_one(int fd, uid_t uid, pid_t pid, const char *token, void *ctx) {
    finding *f = ctx;
    return search_file(fd, uid, pid, token, f->dev, f->ino, f->info);
}

static int count_holder(int fd, uid_t uid, pid_t pid, const char *token, void *ctx) {
    finding *f = ctx;
    bt_record_info info;
    if (search_file(fd, uid, pid, token, f->dev, f->ino, &info) && info.kind == f->kind) {
        if ((size_t)f->total < f->max) {
            f->out[f->total].pid = (long)pid;
            f->out[f->total].shared = info.shared;
            f->out[f->total].kind = BT_LOCK_FLOCK;
            f->out[f->total].bytes = 0;
        }
        f->total++;
    }
    return 0;
}

long bt_record_holders(int kind, dev_t dev, ino_t ino, bt_lock_holder *out, size_t max) {
    finding f = {dev, ino, kind, NULL, out, max, 0};
    each_table(0, count_holder, &f);
    return f.total;
}

int bt_record_find(pid_t pid, const char *token, dev_t dev, ino_t ino, bt_record_info *out) {
    uid_t uid;
    if (pid <= 0)
        return 0;
    if (!token[0] || bt_proc_uid(pid, &uid) != 0) {
        finding f = {dev, ino, 0, out, NULL, 0, 0};
        return each_table(pid, found_one, &f);
    }
    for (size_t b = 0; b < sizeof BASES / sizeof BASES[0]; b++) {
        char dir[64], path[192];
        snprintf(dir, sizeof dir, "%s/baton-%lu", BASES[b], (unsigned long)uid);
        if (!trusted_folder(AT_FDCWD, dir, uid))
            continue;
        snprintf(path, sizeof path, "%s/%ld-%s", dir, (long)pid, token);
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
            continue;
        int found = search_file(fd, uid, pid, token, dev, ino, out);
        close(fd);
        if (found)
            return 1;
    }
    return 0;
}

void bt_record_retain(void) { __atomic_add_fetch(&g.refs, 1, __ATOMIC_ACQ_REL); }

void bt_record_release(void) {
    if (__atomic_sub_fetch(&g.refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    if (__atomic_load_n(&g.state, __ATOMIC_ACQUIRE) != 2 || g.pid != bt_pid())
        return;
    for (int i = 0; i < SLOTS; i++)
        if (__atomic_load_n(&g.t->slots[i].s.used, __ATOMIC_ACQUIRE))
            return; /* still published: the next sweep removes it once we are gone */
    unlink(g.path);
    munmap(g.t, TABLE_SIZE);
    if (g.keep > 0)
        close(g.keep - 1);
    g.keep = 0;
    g.t = NULL;
    __atomic_store_n(&g.state, 0, __ATOMIC_RELEASE);
}
