#define _GNU_SOURCE
#include "bt_path.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int bt_make_parents(const char *path) {
    char *copy = strdup(path);
    if (!copy)
        return -1;
    int rc = 0;
    char *slash = strrchr(copy, '/');
    if (slash && slash != copy) {
        *slash = '\0';
        for (char *p = copy + 1; rc == 0; p++) {
            if (*p != '/' && *p != '\0')
                continue;
            char c = *p;
            *p = '\0';
            if (mkdir(copy, 0777) != 0 && errno != EEXIST)
                rc = -1;
            *p = c;
            if (c == '\0')
                break;
        }
    }
    int saved = errno;
    free(copy);
    errno = saved;
    return rc;
}
