/* baton.exe's entry point: Windows hands a program its command line in UTF-16; main.c's
 * main gets it in UTF-8, which is what baton's paths are everywhere (built with -municode).
 * An argument that is not valid UTF-16 (an unpaired surrogate, which a file name may hold)
 * is refused: turned into U+FFFD it would name another file. */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>

#define EX_USAGE 64

int main(int argc, char **argv);

/* The argument in UTF-8 (NULL with *bad set when it is not valid UTF-16, else when out of
 * memory). */
static char *utf8(const wchar_t *w, int *bad) {
    int n = WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, w, -1, NULL, 0, NULL, NULL);
    if (n <= 0) {
        *bad = GetLastError() == ERROR_NO_UNICODE_TRANSLATION;
        return NULL;
    }
    char *s = malloc((size_t)n);
    if (s && WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, w, -1, s, n, NULL, NULL) <= 0) {
        free(s);
        s = NULL;
    }
    return s;
}

int wmain(int argc, wchar_t **wargv) {
    char **argv = calloc((size_t)argc + 1, sizeof *argv);
    int bad = 0, at = 0;
    for (int i = 0; argv && i < argc; i++) {
        if (!(argv[i] = utf8(wargv[i], &bad))) {
            at = i;
            argv = NULL; /* the process ends at once: nothing to free */
            break;
        }
    }
    if (bad) {
        fprintf(stderr, "baton: argument %d is not valid UTF-16 (an unpaired surrogate): it cannot "
                        "be passed on as UTF-8\n", at);
        return EX_USAGE;
    }
    if (!argv) {
        fputs("baton: cannot read the command line: not enough memory\n", stderr);
        return 1;
    }
    return main(argc, argv);
}
