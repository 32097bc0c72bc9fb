#define _POSIX_C_SOURCE 200809L
#include "bt_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int bt_make_parent_folders(const char *path) {
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

void bt_apply_mode(int fd, mode_t mode) {
    if (mode & BT_MODE_EXACT)
        (void)fchmod(fd, BT_MODE_BITS(mode)); /* where the file system refuses: the umask's */
}

int bt_open_create(const char *path, int flags, mode_t mode) {
    if (!(mode & BT_MODE_EXACT))
        return open(path, flags | O_CREAT, BT_MODE_BITS(mode));
    /* Tell a file we create from one that is there: only ours gets the mode. A file
     * removed between the two opens is looked for again, a few times. */
    for (int tries = 0; tries < 16; tries++) {
        int fd = open(path, flags | O_CREAT | O_EXCL, BT_MODE_BITS(mode));
        if (fd >= 0) {
            bt_apply_mode(fd, mode);
            return fd;
        }
        if (errno != EEXIST)
            return -1;
        fd = open(path, flags);
        if (fd >= 0 || errno != ENOENT)
            return fd;
    }
    return -1;
}
