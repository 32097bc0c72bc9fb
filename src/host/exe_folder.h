/* The folder of the running executable (exe_folder.c; exe_folder_windows.c on Windows). */
#ifndef BT_EXE_FOLDER_H
#define BT_EXE_FOLDER_H

#include <stddef.h>

/* Its path, in UTF-8, into `buf` (without a trailing separator): 1, or 0 when the system
 * cannot tell it or it does not fit. */
int bt_exe_folder(char *buf, size_t size);

#endif
