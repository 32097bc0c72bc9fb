/* The executable's folder on Linux, from /proc/self/exe (exe_folder.h). */
#define _POSIX_C_SOURCE 200809L
#include "exe_folder.h"

#include <string.h>
#include <unistd.h>

int bt_exe_folder(char *buf, size_t size) {
    ssize_t n = readlink("/proc/self/exe", buf, size - 1);
    if (n <= 0 || (size_t)n >= size - 1)
        return 0;
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (slash == NULL)
        return 0;
    *slash = '\0';
    return 1;
}
