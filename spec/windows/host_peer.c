/* A Windows peer for the host and process checks (spec/windows/60_host.sh, 65_process.sh),
 * run under wine as a command baton starts:
 *   host_peer argv ARGS...           print each argument as [ARG] on a line of its own
 *   host_peer exit N                 exit with status N
 *   host_peer hold_child READY SECS  write "PID PARENT-PID" to READY (whole: written aside,
 *                                    then renamed), sleep SECS, print "survived"
 *   host_peer alive PID              "running" while process PID runs, else "gone" */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>
#include <tlhelp32.h>

static DWORD parent_pid(void) {
    DWORD me = GetCurrentProcessId(), parent = 0;
    HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
    PROCESSENTRY32 e;
    e.dwSize = sizeof e;
    if (snap == INVALID_HANDLE_VALUE)
        return 0;
    for (BOOL ok = Process32First(snap, &e); ok; ok = Process32Next(snap, &e))
        if (e.th32ProcessID == me)
            parent = e.th32ParentProcessID;
    CloseHandle(snap);
    return parent;
}

static int hold_child(const char *ready, const char *secs) {
    char tmp[MAX_PATH + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", ready);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return 2;
    fprintf(f, "%lu %lu\n", (unsigned long)GetCurrentProcessId(), (unsigned long)parent_pid());
    fclose(f);
    if (!MoveFileExA(tmp, ready, MOVEFILE_REPLACE_EXISTING))
        return 2;
    Sleep((DWORD)(atof(secs) * 1000));
    puts("survived");
    return 0;
}

static int alive(const char *pid) {
    HANDLE h = OpenProcess(SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD)atol(pid));
    int running = h && WaitForSingleObject(h, 0) == WAIT_TIMEOUT;
    if (h)
        CloseHandle(h);
    puts(running ? "running" : "gone");
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "argv") == 0) {
        for (int i = 2; i < argc; i++)
            printf("[%s]\n", argv[i]);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "exit") == 0)
        return atoi(argv[2]);
    if (argc == 4 && strcmp(argv[1], "hold_child") == 0)
        return hold_child(argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[1], "alive") == 0)
        return alive(argv[2]);
    fputs("usage: host_peer argv|exit|hold_child|alive ...\n", stderr);
    return 2;
}
