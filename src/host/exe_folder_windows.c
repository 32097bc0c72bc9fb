/* The executable's folder on Windows, from GetModuleFileNameW (exe_folder.h). */
#include "exe_folder.h"

#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <wchar.h>

int bt_exe_folder(char *buf, size_t size) {
    wchar_t w[32768];
    DWORD n = GetModuleFileNameW(NULL, w, sizeof w / sizeof w[0]);
    if (n == 0 || n >= sizeof w / sizeof w[0])
        return 0;
    wchar_t *sep = wcsrchr(w, L'\\');
    if (sep == NULL)
        return 0;
    *sep = L'\0';
    int len = WideCharToMultiByte(CP_UTF8, 0, w, -1, buf, (int)(size > 0x7fffffff ? 0x7fffffff : size),
                                  NULL, NULL);
    return len > 0;
}
