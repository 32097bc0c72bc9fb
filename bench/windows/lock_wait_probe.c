/* Does this system wait for a LockFileEx lock on a handle opened with FILE_FLAG_OVERLAPPED,
 * which a waiter with a deadline could use instead of attempts: the request left pending
 * while another handle holds the byte, granted (its event set) when that handle unlocks, and
 * given up by CancelIoEx without the lock arriving later? One process, three handles on the
 * file PATH (byte 0, as baton and filelock lock it); prints one line per question.
 *   lock_wait_probe PATH */
#include <stdio.h>
#include <string.h>
#include <windows.h>

static double now(void) {
    LARGE_INTEGER f, c;
    QueryPerformanceFrequency(&f);
    QueryPerformanceCounter(&c);
    return (double)c.QuadPart / (double)f.QuadPart;
}

static HANDLE open_file(const char *path, DWORD flags) {
    return CreateFileA(path, GENERIC_READ | GENERIC_WRITE,
                       FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, OPEN_ALWAYS,
                       flags, NULL);
}

static BOOL lock(HANDLE h, DWORD how, OVERLAPPED *ov) { return LockFileEx(h, how, 0, 1, 0, ov); }

static void unlock(HANDLE h) {
    OVERLAPPED ov;
    memset(&ov, 0, sizeof ov);
    UnlockFileEx(h, 0, 1, 0, &ov);
}

/* A pending exclusive request on the overlapped handle h while `holder` has the byte: 1 when
 * the system says it is queued (ERROR_IO_PENDING and Internal set to STATUS_PENDING). */
static int request(HANDLE h, OVERLAPPED *ov, HANDLE event) {
    memset(ov, 0, sizeof *ov);
    ov->hEvent = (HANDLE)((ULONG_PTR)event | 1); /* no completion port packet */
    ov->Internal = 0xBADC0DE;
    ResetEvent(event);
    if (lock(h, LOCKFILE_EXCLUSIVE_LOCK, ov))
        return printf("granted at once while another handle holds it: not a lock wait\n"), 0;
    DWORD e = GetLastError();
    if (e != ERROR_IO_PENDING)
        return printf("refused (error %lu)\n", e), 0;
    return ov->Internal == (ULONG_PTR)STATUS_PENDING;
}

int main(int argc, char **argv) {
    if (argc != 2)
        return 2;
    HANDLE holder = open_file(argv[1], 0), waiter = open_file(argv[1], FILE_FLAG_OVERLAPPED);
    HANDLE event = CreateEventW(NULL, TRUE, FALSE, NULL);
    OVERLAPPED ov, plain;
    memset(&plain, 0, sizeof plain);
    if (holder == INVALID_HANDLE_VALUE || waiter == INVALID_HANDLE_VALUE || !event ||
        !lock(holder, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, &plain))
        return printf("cannot set up on %s (error %lu)\n", argv[1], GetLastError()), 1;
    int queued = request(waiter, &ov, event);
    printf("request left pending while held: %s\n", queued ? "yes" : "no (ERROR_IO_PENDING, but not queued)");
    double t0 = now();
    unlock(holder);
    DWORD w = WaitForSingleObject(event, 2000);
    DWORD n;
    int granted = w == WAIT_OBJECT_0 && GetOverlappedResult(waiter, &ov, &n, FALSE);
    if (granted)
        printf("granted on the holder's unlock: yes, after %.0f us\n", (now() - t0) * 1e6);
    else
        printf("granted on the holder's unlock: no (none within 2 s)\n");
    if (granted)
        unlock(waiter);
    if (!queued) {
        CancelIoEx(waiter, &ov);
        return 0;
    }
    /* a request given up: cancelled, and no lock arrives after it */
    lock(holder, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, &plain);
    request(waiter, &ov, event);
    WaitForSingleObject(event, 100);
    BOOL cancel = CancelIoEx(waiter, &ov);
    BOOL got = GetOverlappedResult(waiter, &ov, &n, TRUE);
    DWORD e = got ? 0 : GetLastError();
    unlock(holder);
    Sleep(100);
    HANDLE third = open_file(argv[1], 0);
    BOOL free_after = lock(third, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, &plain);
    printf("CancelIoEx ends it: %s; result %s; the byte free after the holder's unlock: %s\n",
           cancel ? "yes" : "no", got ? "granted in the race" : e == ERROR_OPERATION_ABORTED ? "aborted" : "other error",
           free_after ? "yes" : "no");
    return 0;
}
