#define _GNU_SOURCE
#include "bt_lockinfo.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

/* One line of /proc/locks for a granted lock reads
 *   "12: FLOCK  ADVISORY  WRITE 4321 fe:00:10952979 0 EOF"
 * (device numbers in hex); a waiter's line has "->" after the number. */
static int parse(const char *line, char type[16], char access[16], long *pid, unsigned *maj,
                 unsigned *min, unsigned long *ino) {
    const char *p = strchr(line, ':');
    if (!p)
        return 0;
    p++;
    while (*p == ' ')
        p++;
    if (strncmp(p, "->", 2) == 0)
        return 0;
    return sscanf(p, "%15s %*s %15s %ld %x:%x:%lu", type, access, pid, maj, min, ino) == 6;
}

int bt_flock_holders(const char *path, bt_lockinfo *out, int max, bt_err *err) {
    struct stat st;
    if (stat(path, &st) != 0) {
        err->op = "inspect";
        err->code = errno;
        err->detail = NULL;
        return -1;
    }
    FILE *f = fopen("/proc/locks", "re");
    if (!f) {
        err->op = "inspect";
        err->code = ENOSYS;
        err->detail = "the kernel's lock table (/proc/locks) cannot be read";
        return -1;
    }
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        char type[16], access[16];
        long pid;
        unsigned maj, min;
        unsigned long ino;
        if (!parse(line, type, access, &pid, &maj, &min, &ino))
            continue;
        if (strcmp(type, "FLOCK") != 0 || ino != (unsigned long)st.st_ino ||
            maj != major(st.st_dev) || min != minor(st.st_dev))
            continue;
        if (n < max) {
            out[n].pid = pid > 0 ? (pid_t)pid : 0;
            out[n].shared = strcmp(access, "READ") == 0;
        }
        n++;
    }
    fclose(f);
    return n;
}
