/* A child's environment: ours with some variables set or removed (child_env.h). */
#define _GNU_SOURCE
#include "child_env.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "os/os.h"

/* Length of the name part of "NAME=VALUE" (all of it for a bare "NAME"). */
static size_t name_len(const char *s) {
    const char *eq = strchr(s, '=');
    return eq ? (size_t)(eq - s) : strlen(s);
}

static int changed(const char *var, const char *const *changes, size_t n) {
    size_t len = name_len(var);
    for (size_t i = 0; i < n; i++)
        if (name_len(changes[i]) == len && strncmp(var, changes[i], len) == 0)
            return 1;
    return 0;
}

char **bt_env_build(const char *const *changes, size_t n) {
    char **environ = *bt_os_environ();
    size_t ours = 0;
    while (environ && environ[ours])
        ours++;
    char **env = malloc((ours + n + 1) * sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < ours; i++)
        if (!changed(environ[i], changes, n))
            env[k++] = environ[i];
    for (size_t i = 0; i < n; i++)
        if (strchr(changes[i], '='))
            env[k++] = (char *)changes[i];
    env[k] = NULL;
    return env;
}
