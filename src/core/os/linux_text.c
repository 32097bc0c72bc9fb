/* Linux's texts parsed: /proc/PID/stat, /proc/stat, the boot id and /proc/locks. Pure
 * functions over a buffer, no system calls, so specs and fuzz targets can feed them anything
 * on any host; src/core/os/linux.c reads the files and calls them. */
#include "linux_text.h"

#include <stdio.h>
#include <string.h>

/* Index of starttime among the fields after the command name: field 22 overall, counted
 * from field 3 (the state). */
#define STARTTIME_INDEX 19

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

int bt_stat_parse(const char *buf, size_t len, bt_stat *out) {
    const char *close = NULL;
    for (size_t i = len; i > 0; i--) {
        if (buf[i - 1] == ')') {
            close = buf + i;
            break;
        }
    }
    if (!close)
        return -1;
    const char *p = close, *end = buf + len;
    for (int field = 0; field <= STARTTIME_INDEX; field++) {
        while (p < end && is_space(*p))
            p++;
        if (p == end)
            return -1;
        const char *start = p;
        while (p < end && !is_space(*p))
            p++;
        if (field == 0) {
            if (p - start != 1)
                return -1;
            out->state = *start;
        } else if (field == STARTTIME_INDEX) {
            unsigned long long v = 0;
            for (const char *q = start; q < p; q++) {
                if (*q < '0' || *q > '9' || v > (~0ULL - 9) / 10)
                    return -1;
                v = v * 10 + (unsigned)(*q - '0');
            }
            out->starttime = v;
        }
    }
    return 0;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int bt_boot_parse(const char *buf, size_t len, uint32_t out[4]) {
    size_t a = 0, b = len;
    while (a < b && is_space(buf[a]))
        a++;
    while (b > a && is_space(buf[b - 1]))
        b--;
    uint32_t w[4] = {0, 0, 0, 0};
    int digits = 0;
    for (size_t i = a; i < b; i++) {
        if (buf[i] == '-')
            continue;
        int v = hex_value(buf[i]);
        if (v < 0 || digits == 32)
            return -1;
        /* shift the 128-bit number left by one hex digit */
        for (int k = 0; k < 3; k++)
            w[k] = (w[k] << 4) | (w[k + 1] >> 28);
        w[3] = (w[3] << 4) | (uint32_t)v;
        digits++;
    }
    if (digits == 0)
        return -1;
    memcpy(out, w, sizeof w);
    return 0;
}

size_t bt_token_format(const uint32_t boot[4], unsigned long long starttime,
                       char out[BT_TOKEN_LEN]) {
    /* The 192-bit number as six 32-bit limbs, most significant first. */
    uint32_t limb[6] = {boot[0], boot[1], boot[2], boot[3], (uint32_t)(starttime >> 32),
                        (uint32_t)starttime};
    /* Divide by 10^9 repeatedly; each remainder is nine digits, least significant first. */
    uint32_t chunk[8];
    int nchunks = 0;
    int top = 0;
    while (top < 6) {
        uint64_t rem = 0;
        for (int i = top; i < 6; i++) {
            uint64_t cur = (rem << 32) | limb[i];
            limb[i] = (uint32_t)(cur / 1000000000u);
            rem = cur % 1000000000u;
        }
        chunk[nchunks++] = (uint32_t)rem;
        while (top < 6 && limb[top] == 0)
            top++;
    }
    if (nchunks == 0)
        chunk[nchunks++] = 0;
    /* The most significant chunk without leading zeros, the others padded to nine digits. */
    int n = snprintf(out, BT_TOKEN_LEN, "%lu", (unsigned long)chunk[nchunks - 1]);
    for (int i = nchunks - 2; i >= 0; i--)
        n += snprintf(out + n, (size_t)(BT_TOKEN_LEN - n), "%09lu", (unsigned long)chunk[i]);
    return (size_t)n;
}

size_t bt_cmdline_join(char *buf, size_t len) {
    while (len > 0 && buf[len - 1] == '\0')
        len--;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    buf[len] = '\0';
    return len;
}

double bt_btime_parse(const char *buf, size_t len) {
    static const char key[] = "btime ";
    size_t k = sizeof key - 1;
    for (size_t at = 0; at + k <= len; at++) {
        if ((at > 0 && buf[at - 1] != '\n') || memcmp(buf + at, key, k) != 0)
            continue;
        unsigned long long v = 0;
        size_t i = at + k, start = i;
        for (; i < len && buf[i] >= '0' && buf[i] <= '9'; i++) {
            if (v > (~0ULL - 9) / 10)
                return -1;
            v = v * 10 + (unsigned)(buf[i] - '0');
        }
        return i > start && (i == len || buf[i] == '\n') ? (double)v : -1;
    }
    return -1;
}

typedef struct word {
    const char *s;
    size_t n;
} word;

static int word_is(const word *w, const char *text) {
    return w->n == strlen(text) && memcmp(w->s, text, w->n) == 0;
}

/* Up to `max` space-separated words of the line [p, end). Returns how many. */
static size_t split_words(const char *p, const char *end, word *out, size_t max) {
    size_t n = 0;
    while (n < max) {
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p == end)
            break;
        out[n].s = p;
        while (p < end && *p != ' ' && *p != '\t')
            p++;
        out[n].n = (size_t)(p - out[n].s);
        n++;
    }
    return n;
}

/* Digits in `base` up to `stop` (or the end of the word); returns the position after them
 * in *next. Returns 0, or -1 on an empty or overflowing number. */
static int number(const char *p, const char *end, int base, char stop, unsigned long long *v,
                  const char **next) {
    unsigned long long x = 0;
    const char *start = p;
    for (; p < end && *p != stop; p++) {
        int d;
        if (*p >= '0' && *p <= '9')
            d = *p - '0';
        else if (base == 16 && *p >= 'a' && *p <= 'f')
            d = *p - 'a' + 10;
        else if (base == 16 && *p >= 'A' && *p <= 'F')
            d = *p - 'A' + 10;
        else
            return -1;
        if (x > (~0ULL - (unsigned)d) / (unsigned)base)
            return -1;
        x = x * (unsigned)base + (unsigned)d;
    }
    if (p == start)
        return -1;
    *v = x;
    *next = p;
    return 0;
}

/* "MAJ:MIN:INODE" with the device numbers in hexadecimal. */
static int same_file(const word *w, unsigned long major, unsigned long minor,
                     unsigned long long ino) {
    const char *p = w->s, *end = w->s + w->n;
    unsigned long long a, b, c;
    if (number(p, end, 16, ':', &a, &p) != 0 || p == end)
        return 0;
    if (number(p + 1, end, 16, ':', &b, &p) != 0 || p == end)
        return 0;
    if (number(p + 1, end, 10, ':', &c, &p) != 0 || p != end)
        return 0;
    return (major == BT_ANY_DEVICE || (a == major && b == minor)) && c == ino;
}

static long parse_pid(const word *w) {
    long v = 0;
    if (w->n == 0 || w->n > 10)
        return 0;
    for (size_t i = 0; i < w->n; i++) {
        if (w->s[i] < '0' || w->s[i] > '9')
            return 0; /* "-1" and the like: the kernel does not know */
        v = v * 10 + (w->s[i] - '0');
    }
    return v;
}

/* SQLite's lock bytes at their default offsets (PENDING_BYTE and after it in sqlite3.c). */
#define SQLITE_PENDING 0x40000000ULL
#define SQLITE_RESERVED (SQLITE_PENDING + 1)
#define SQLITE_SHARED_FIRST (SQLITE_PENDING + 2)
#define SQLITE_SHARED_LAST (SQLITE_SHARED_FIRST + 510 - 1)

/* A record lock's range "START END" (END may be "EOF") into *first and *last. */
static int lock_range(const word *s, const word *e, unsigned long long *first,
                      unsigned long long *last) {
    const char *next;
    if (number(s->s, s->s + s->n, 10, ' ', first, &next) != 0 || next != s->s + s->n)
        return -1;
    if (word_is(e, "EOF")) {
        *last = ~0ULL;
        return 0;
    }
    if (number(e->s, e->s + e->n, 10, ' ', last, &next) != 0 || next != e->s + e->n ||
        *last < *first)
        return -1;
    return 0;
}

/* The BT_BYTES_* bits for a range [first, last] locked for reading or writing. */
static unsigned range_bytes(unsigned long long first, unsigned long long last, int write) {
    unsigned bits = 0;
    if (first <= SQLITE_PENDING && last >= SQLITE_PENDING)
        bits |= write ? BT_BYTES_PENDING_WRITE : BT_BYTES_PENDING_READ;
    if (first <= SQLITE_RESERVED && last >= SQLITE_RESERVED)
        bits |= write ? BT_BYTES_RESERVED_WRITE : BT_BYTES_RESERVED_READ;
    if (first <= SQLITE_SHARED_LAST && last >= SQLITE_SHARED_FIRST)
        bits |= write ? BT_BYTES_SHARED_WRITE : BT_BYTES_SHARED_READ;
    if (first < SQLITE_PENDING || last > SQLITE_SHARED_LAST)
        bits |= write ? BT_BYTES_OTHER_WRITE : BT_BYTES_OTHER_READ;
    return bits;
}

/* The kind of lock the second word of a line names, when it is one of `kinds`; else 0. */
static int line_kind(const word *w, int kinds) {
    if ((kinds & BT_LOCK_FLOCK) && word_is(w, "FLOCK"))
        return BT_LOCK_FLOCK;
    if ((kinds & BT_LOCK_POSIX) && (word_is(w, "POSIX") || word_is(w, "OFDLCK")))
        return BT_LOCK_POSIX;
    return 0;
}

/* The holder the line [p, eol) names, when it is a granted lock of one of `kinds` on the
 * file: 1 with *h filled, else 0.
 * "N: FLOCK  ADVISORY  WRITE 1234 fe:00:10952820 0 EOF"
 * "N: POSIX  ADVISORY  READ 1234 fe:00:10952820 1073741826 1073742335" */
static int holder_on_line(const char *p, const char *eol, unsigned long major,
                          unsigned long minor, unsigned long long ino, int kinds,
                          bt_lock_holder *h) {
    word w[8];
    size_t n = split_words(p, eol, w, 8);
    if (n < 6 || w[0].n < 2 || w[0].s[w[0].n - 1] != ':')
        return 0;
    h->kind = line_kind(&w[1], kinds); /* blocked waiters have "->" in the second word */
    if (!h->kind)
        return 0;
    if (word_is(&w[3], "READ"))
        h->shared = 1;
    else if (word_is(&w[3], "WRITE"))
        h->shared = 0;
    else
        return 0;
    if (!same_file(&w[5], major, minor, ino))
        return 0;
    h->bytes = 0;
    h->ofd = word_is(&w[1], "OFDLCK");
    h->first = 0;
    h->last = ~0ULL;
    if (h->kind == BT_LOCK_POSIX) {
        if (n < 8 || lock_range(&w[6], &w[7], &h->first, &h->last) != 0)
            return 0;
        h->bytes = range_bytes(h->first, h->last, !h->shared);
    }
    h->pid = parse_pid(&w[4]);
    return 1;
}

static const char *line_end(const char *p, const char *end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    return eol ? eol : end;
}

/* Whether a line of [buf, upto) names `h`'s pid as a holder of the same kind on the file:
 * for the holders the caller had no room for. */
static int named_before(const char *buf, const char *upto, unsigned long major,
                        unsigned long minor, unsigned long long ino, const bt_lock_holder *h) {
    for (const char *p = buf; p < upto;) {
        const char *eol = line_end(p, upto);
        bt_lock_holder o;
        if (holder_on_line(p, eol, major, minor, ino, h->kind, &o) && o.pid == h->pid)
            return 1;
        p = eol < upto ? eol + 1 : upto;
    }
    return 0;
}

/* The entry in out[0, n) for h's kind and pid, or NULL. */
static bt_lock_holder *entry_of(bt_lock_holder *out, size_t n, const bt_lock_holder *h) {
    for (size_t i = 0; i < n; i++)
        if (out[i].pid == h->pid && out[i].kind == h->kind)
            return &out[i];
    return NULL;
}

size_t bt_locks_parse_kinds(const char *buf, size_t len, unsigned long major,
                            unsigned long minor, unsigned long long ino, int kinds,
                            bt_lock_holder *out, size_t max) {
    size_t total = 0;
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *line = p, *eol = line_end(p, end);
        p = eol < end ? eol + 1 : end;
        bt_lock_holder h;
        if (!holder_on_line(line, eol, major, minor, ino, kinds, &h))
            continue;
        if (h.pid != 0) {
            bt_lock_holder *e = entry_of(out, total < max ? total : max, &h);
            if (e) {
                /* one process, several ranges (or descriptors): one holder */
                e->bytes |= h.bytes;
                e->shared = e->shared && h.shared;
                e->first = h.first < e->first ? h.first : e->first; /* the span of them all */
                e->last = h.last > e->last ? h.last : e->last;
                continue;
            }
            if (total >= max && named_before(buf, line, major, minor, ino, &h))
                continue;
        }
        if (total < max)
            out[total] = h;
        total++;
    }
    return total;
}

size_t bt_locks_parse(const char *buf, size_t len, unsigned long major, unsigned long minor,
                      unsigned long long ino, bt_lock_holder *out, size_t max) {
    return bt_locks_parse_kinds(buf, len, major, minor, ino, BT_LOCK_FLOCK, out, max);
}

const char *bt_locks_sqlite_state(unsigned bytes) {
    if (bytes & BT_BYTES_SHARED_WRITE)
        return "exclusive";
    if (bytes & BT_BYTES_PENDING_WRITE)
        return "pending";
    if (bytes & BT_BYTES_RESERVED_WRITE)
        return "reserved";
    if (bytes & (BT_BYTES_SHARED_READ | BT_BYTES_PENDING_READ))
        return "shared";
    return NULL;
}
