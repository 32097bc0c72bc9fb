/* Small file-system helpers shared by the kinds of lock that create lock files. */
#ifndef BT_FS_H
#define BT_FS_H

#include <sys/types.h>

/* mkdir -p for the folder that holds `path` (mode 0777, masked by the umask).
 * Returns 0, or -1 with errno set. */
int bt_make_parent_folders(const char *path);

/* Or'ed into a lock file's mode: the bits were asked for explicitly, so a file baton
 * creates gets exactly them whatever the umask (fchmod after creating it, as Python's
 * filelock does); an existing file's mode is never changed. Without it the umask applies. */
#define BT_MODE_EXACT 010000

/* The permission bits of such a mode, for open(2). */
#define BT_MODE_BITS(mode) ((mode) & 07777)

/* open(path, flags | O_CREAT, mode); with BT_MODE_EXACT, a file this call creates is given
 * exactly mode's bits. Returns the descriptor, or -1 with errno set. */
int bt_open_create(const char *path, int flags, mode_t mode);

/* Give fd, a file baton just created, mode's bits if they were asked for explicitly. */
void bt_apply_mode(int fd, mode_t mode);

#endif
