/* A Windows peer that locks as msvcrt's _locking does (Python's msvcrt.locking, which older
 * filelock releases used for WindowsFileLock): one byte at the file's position, 0 after the
 * open. spec/windows/run.sh runs it under wine beside baton.
 *   locking_peer hold PATH READY GO   lock, create READY, hold until GO exists, unlock
 *   locking_peer try PATH             one attempt: prints "ok" (and unlocks) or "busy" */
#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <string.h>
#include <sys/locking.h>
#include <sys/stat.h>
#include <windows.h>

static int exists(const char *name) {
    return GetFileAttributesA(name) != INVALID_FILE_ATTRIBUTES;
}

int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    int fd = _open(argv[2], _O_RDWR | _O_CREAT | _O_BINARY | _O_NOINHERIT, _S_IREAD | _S_IWRITE);
    if (fd < 0) {
        perror("open");
        return 1;
    }
    if (strcmp(argv[1], "try") == 0) {
        if (_locking(fd, _LK_NBLCK, 1) != 0) {
            puts("busy");
        } else {
            puts("ok");
            _lseek(fd, 0, SEEK_SET);
            _locking(fd, _LK_UNLCK, 1);
        }
    } else if (strcmp(argv[1], "hold") == 0 && argc == 5) {
        while (_locking(fd, _LK_NBLCK, 1) != 0)
            Sleep(10);
        FILE *f = fopen(argv[3], "wb");
        if (f)
            fclose(f);
        while (!exists(argv[4]))
            Sleep(10);
        _lseek(fd, 0, SEEK_SET);
        _locking(fd, _LK_UNLCK, 1);
        puts("released");
    } else {
        return 2;
    }
    _close(fd);
    fflush(stdout);
    return 0;
}
