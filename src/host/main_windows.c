/* baton.exe's entry point: Windows hands a program its command line in UTF-16; main.c's
 * main gets it in UTF-8, which is what baton's paths are everywhere (built with -municode). */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv);

static char *utf8(const wchar_t *w) {
    int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
    char *s = n > 0 ? malloc((size_t)n) : NULL;
    if (s)
        WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL);
    return s;
}

int wmain(int argc, wchar_t **wargv) {
    char **argv = calloc((size_t)argc + 1, sizeof *argv);
    for (int i = 0; argv && i < argc; i++) {
        if (!(argv[i] = utf8(wargv[i]))) {
            argv = NULL;
            break;
        }
    }
    if (!argv) {
        fputs("baton: cannot read the command line: not enough memory\n", stderr);
        return 1;
    }
    return main(argc, argv);
}
