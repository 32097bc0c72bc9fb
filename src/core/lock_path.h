/* Small file-system helpers shared by the kinds of lock that create lock files, and the one
 * check every kind makes before it opens or creates anything at a lock path. */
#ifndef BT_FS_H
#define BT_FS_H

#include <sys/types.h>

#include "errors.h"

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

/* The folder that holds the last component of `path`, as an O_PATH | O_DIRECTORY |
 * O_CLOEXEC descriptor, resolved race-free: each folder on the way is opened relative to the
 * one before, never through a symbolic link that bt_fs_vet's rule refuses, nor through any
 * link beneath a folder of another user inside a world-writable sticky folder (such a user
 * could put a link there at any time). With `make_parents`, missing folders are created
 * (mode 0777, masked by the umask) relative to the descriptors too. Returns the descriptor,
 * or -1 with *err filled in: op "use" and ELOOP (a detail naming the refused link) for a
 * refused link, "create the folder of" when a folder cannot be made, else `op` with the
 * errno of the failed lookup (ENOENT, ENOTDIR, EACCES...). */
int bt_fs_open_folder(const char *path, int make_parents, const char *op, bt_err *err);

/* In place of a folder's descriptor for bt_fs_openat: `name` is then a whole path, opened
 * with openat2(RESOLVE_NO_SYMLINKS) (ELOOP for a link anywhere on it; ENOSYS without
 * openat2). For when no descriptor is left for the folder. */
#define BT_FS_BY_PATH (-2)

/* openat(dir, name, flags, mode), or the whole path without links for BT_FS_BY_PATH. */
int bt_fs_openat(int dir, const char *name, int flags, mode_t mode);

/* The last component of `path` (what follows its last slash). */
const char *bt_fs_last_name(const char *path);

/* Open (creating it if need be, and its folders with `make_parents`) the lock file at
 * `path` for flock or record locks: read-write, or read-only where that is all we may;
 * never following a link at the path, and reaching its folder by bt_fs_open_folder.
 * The descriptor is O_CLOEXEC and O_NONBLOCK; it may be anything but a link (the caller
 * checks it is a regular file). Returns it, or -1 with *err filled in. */
int bt_fs_open_lock(const char *path, mode_t mode, int make_parents, bt_err *err);

/* How often a lock file may be swapped under a lock before one attempt gives up. */
#define BT_MAX_REOPENS 64

struct stat;
/* After locking a descriptor opened at `path`: 1 when `mine` (its fstat) is no longer the
 * file at `path` (unlinked, renamed over, replaced), so the lock must be let go and the path
 * opened again; 0 when it still is. */
int bt_fs_replaced(const char *path, const struct stat *mine);

/* Or'ed into a lock file's mode: the bits were asked for explicitly, so a file baton
 * creates gets exactly them whatever the umask (fchmod after creating it, as Python's
 * filelock does); an existing file's mode is never changed. Without it the umask applies. */
#define BT_MODE_EXACT 010000

/* The permission bits of such a mode, for open(2). */
#define BT_MODE_BITS(mode) ((mode) & 07777)

/* openat(dir, name, flags | O_CREAT, mode); with BT_MODE_EXACT, a file this call creates is
 * given exactly mode's bits. Returns the descriptor, or -1 with errno set. */
int bt_open_create_at(int dir, const char *name, int flags, mode_t mode);

/* Give fd, a file baton just created, mode's bits if they were asked for explicitly. */
void bt_apply_mode(int fd, mode_t mode);

#endif
