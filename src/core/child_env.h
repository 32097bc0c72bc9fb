/* A child's environment: ours with some variables set or removed. */
#ifndef BT_ENV_H
#define BT_ENV_H

#include <stddef.h>

/* A NULL-terminated array for execve: every variable of ours whose name is not among
 * `changes`, then each change of the form "NAME=VALUE". A change that is a bare "NAME" removes
 * that variable. The strings are not copied: they must outlive the array. Free the array with
 * free(); NULL when out of memory. */
char **bt_env_build(const char *const *changes, size_t n);

#endif
