#define _GNU_SOURCE
#include "proc_identity.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Read a small file whole. Returns the length, or -1 with errno set. */
static ssize_t read_small(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -1;
    size_t n = 0;
    while (n < cap) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int saved = errno;
            close(fd);
            errno = saved;
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    return (ssize_t)n;
}

int bt_boot_id(uint32_t out[4]) {
    static uint32_t cached[4];
    static volatile int state; /* 0 unknown, 1 read, -1 unavailable: a boot id never changes */
    if (state == 0) {
        char buf[128];
        ssize_t n = read_small("/proc/sys/kernel/random/boot_id", buf, sizeof buf);
        uint32_t w[4];
        if (n > 0 && bt_boot_parse(buf, (size_t)n, w) == 0) {
            memcpy(cached, w, sizeof w);
            state = 1;
        } else {
            state = -1;
        }
    }
    if (state < 0)
        return -1;
    memcpy(out, cached, sizeof cached);
    return 0;
}

int bt_proc_stat(pid_t pid, bt_stat *out) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    ssize_t n = read_small(path, buf, sizeof buf);
    if (n < 0)
        return -1;
    if (bt_stat_parse(buf, (size_t)n, out) != 0) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

size_t bt_proc_token(pid_t pid, char out[BT_TOKEN_LEN], int *dead) {
    bt_stat st;
    *dead = 0;
    out[0] = '\0';
    if (bt_proc_stat(pid, &st) != 0)
        return 0;
    *dead = st.state == 'Z' || st.state == 'X';
    uint32_t boot[4];
    if (bt_boot_id(boot) != 0)
        return 0; /* a token without the boot id would not match filelock's */
    return bt_token_format(boot, st.starttime, out);
}

size_t bt_proc_cmdline(pid_t pid, char *buf, size_t cap) {
    char path[64];
    if (cap == 0)
        return 0;
    snprintf(path, sizeof path, "/proc/%ld/cmdline", (long)pid);
    ssize_t n = read_small(path, buf, cap - 1);
    if (n <= 0) {
        buf[0] = '\0';
        return 0;
    }
    return bt_cmdline_join(buf, (size_t)n);
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

/* The boot time in seconds since the epoch, or -1; read once. /proc/stat is read whole: its
 * "intr" line, which comes before "btime", runs to tens of kilobytes on machines with many
 * interrupt lines. */
static double boot_time(void) {
    static double cached = -2;
    if (cached > -2)
        return cached;
    double t = -1;
    int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        size_t cap = 16384, n = 0;
        char *buf = malloc(cap);
        while (buf) {
            if (n == cap) {
                char *bigger = cap < ((size_t)1 << 24) ? realloc(buf, cap * 2) : NULL;
                if (!bigger)
                    break; /* look in what was read */
                buf = bigger;
                cap *= 2;
            }
            ssize_t r = read(fd, buf + n, cap - n);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            n += (size_t)r;
        }
        if (buf)
            t = bt_btime_parse(buf, n);
        free(buf);
        close(fd);
    }
    cached = t;
    return t;
}

double bt_proc_started(pid_t pid) {
    bt_stat st;
    long ticks = sysconf(_SC_CLK_TCK);
    double boot = boot_time();
    if (ticks <= 0 || boot < 0 || bt_proc_stat(pid, &st) != 0)
        return -1;
    return boot + (double)st.starttime / (double)ticks;
}

int bt_proc_uid(pid_t pid, uid_t *uid) {
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%ld", (long)pid);
    if (stat(path, &st) != 0)
        return -1;
    *uid = st.st_uid;
    return 0;
}
