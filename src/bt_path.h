/* Small helpers for lock file paths. */
#ifndef BT_PATH_H
#define BT_PATH_H

/* mkdir -p for the folder that holds `path` (mode 0777, the umask applies).
 * Returns 0, or -1 with errno set. */
int bt_make_parents(const char *path);

#endif
