/* Small file-system helpers shared by the kinds of lock that create lock files. */
#ifndef BT_FS_H
#define BT_FS_H

/* mkdir -p for the folder that holds `path` (mode 0777, masked by the umask).
 * Returns 0, or -1 with errno set. */
int bt_make_parent_folders(const char *path);

#endif
