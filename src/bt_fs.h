/* Small file-system helpers shared by the kinds of lock that create lock files, and the one
 * check every kind makes before it opens or creates anything at a lock path. */
#ifndef BT_FS_H
#define BT_FS_H

#include "bt_errors.h"

/* mkdir -p for the folder that holds `path` (mode 0777, masked by the umask). A folder on
 * the way that is a symbolic link bt_fs_vet would refuse stops it with ELOOP, before anything
 * is created through the link. Returns 0, or -1 with errno set. */
int bt_make_parent_folders(const char *path);

/* Refuse a path whose folders pass through a symbolic link that another user planted: a
 * link in a world-writable sticky folder (such as /tmp) whose owner is neither this
 * process's effective user nor the folder's owner. This is the kernel's protected_symlinks
 * rule, which the kernel applies (when fs.protected_symlinks = 1) to the last component
 * only. Every folder of the path is checked, and so are the folders of each link's target.
 * The last component is not: every kind opens it with O_NOFOLLOW. A folder that does not
 * exist ends the check (nothing beyond it can be reached).
 * BT_OK, or BT_FAIL with *err filled in (code ELOOP, a detail naming the link, valid until
 * this thread's next call). */
int bt_fs_vet(const char *path, bt_err *err);

#endif
