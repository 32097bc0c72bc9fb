/* A Windows peer for the host and process checks (spec/windows/60_host.sh, 65_process.sh),
 * run under wine as a command baton starts:
 *   host_peer argv ARGS...           print each argument as [ARG] on a line of its own
 *   host_peer exit N                 exit with status N
 *   host_peer hold_child READY SECS  write "PID PARENT-PID" to READY (whole: written aside,
 *                                    then renamed), sleep SECS, print "survived"
 *   host_peer sleep SECS             sleep SECS, print "slept"
 *   host_peer alive PID              "running" while process PID runs, else "gone"
 *   host_peer ctrl_c [DELAY]         send Ctrl-C to its console (baton.exe and itself), DELAY
 *                                    seconds after its start, take it, print "got Ctrl-C"
 *                                    and exit 42 half a second later
 *   host_peer deaf SECS              ignore Ctrl-C, sleep SECS, print "slept"
 *   host_peer orphan READY           start `host_peer hold_child READY 60` (in its own job,
 *                                    if any) and exit at once
 *   host_peer lone PROGRAM ARGS      run the command line after "lone " with each '?' in it
 *                                    made an unpaired surrogate (U+D800), print its exit code
 *   host_peer console PROGRAM ARGS   run the command line after "console " in a console of
 *                                    its own (a Ctrl-C needs one), taking its Ctrl-Cs itself,
 *                                    and print the command's exit code */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
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

static volatile LONG got_ctrl_c;

static BOOL WINAPI on_ctrl(DWORD event) {
    if (event != CTRL_C_EVENT)
        return FALSE;
    InterlockedExchange(&got_ctrl_c, 1);
    return TRUE;
}

static int ctrl_c(const char *delay) {
    SetConsoleCtrlHandler(on_ctrl, TRUE);
    Sleep((DWORD)(atof(delay) * 1000));
    if (!GenerateConsoleCtrlEvent(CTRL_C_EVENT, 0)) {
        printf("cannot send Ctrl-C: error %lu\n", (unsigned long)GetLastError());
        return 2;
    }
    for (int i = 0; i < 500 && !got_ctrl_c; i++)
        Sleep(10);
    if (!got_ctrl_c) {
        puts("no Ctrl-C came");
        return 2;
    }
    puts("got Ctrl-C");
    fflush(stdout);
    Sleep(500);
    return 42;
}

static BOOL WINAPI ignore_ctrl(DWORD event) { return event == CTRL_C_EVENT; }

static int in_console(void) {
    wchar_t *line = wcsstr(GetCommandLineW(), L" console ");
    if (!line)
        return 2;
    line += wcslen(L" console ");
    FreeConsole();
    if (!AllocConsole()) {
        printf("cannot make a console: error %lu\n", (unsigned long)GetLastError());
        return 2;
    }
    SetConsoleCtrlHandler(ignore_ctrl, TRUE);
    STARTUPINFOW si;
    PROCESS_INFORMATION pi;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    if (!CreateProcessW(NULL, line, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi)) {
        printf("cannot run it: error %lu\n", (unsigned long)GetLastError());
        return 2;
    }
    DWORD code = 0;
    WaitForSingleObject(pi.hProcess, INFINITE);
    GetExitCodeProcess(pi.hProcess, &code);
    printf("exit %lu\n", (unsigned long)code);
    return 0;
}

static int orphan(const char *ready) {
    char line[2 * MAX_PATH + 64];
    char self[MAX_PATH];
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    GetModuleFileNameA(NULL, self, sizeof self);
    snprintf(line, sizeof line, "\"%s\" hold_child \"%s\" 60", self, ready);
    if (!CreateProcessA(NULL, line, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi))
        return 2;
    CloseHandle(pi.hThread);
    CloseHandle(pi.hProcess);
    return 0;
}

static int lone(void) {
    wchar_t *line = wcsstr(GetCommandLineW(), L" lone ");
    if (!line)
        return 2;
    line = _wcsdup(line + wcslen(L" lone "));
    for (wchar_t *c = line; c && *c; c++)
        if (*c == L'?')
            *c = 0xD800;
    STARTUPINFOW si;
    PROCESS_INFORMATION pi;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    if (!line || !CreateProcessW(NULL, line, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi)) {
        printf("cannot run it: error %lu\n", (unsigned long)GetLastError());
        return 2;
    }
    DWORD code = 0;
    WaitForSingleObject(pi.hProcess, INFINITE);
    GetExitCodeProcess(pi.hProcess, &code);
    fflush(stderr);
    printf("exit %lu\n", (unsigned long)code);
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
    if (argc == 3 && strcmp(argv[1], "sleep") == 0) {
        Sleep((DWORD)(atof(argv[2]) * 1000));
        puts("slept");
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "alive") == 0)
        return alive(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "console") == 0)
        return in_console();
    if (argc == 3 && strcmp(argv[1], "orphan") == 0)
        return orphan(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "lone") == 0)
        return lone();
    if ((argc == 2 || argc == 3) && strcmp(argv[1], "ctrl_c") == 0)
        return ctrl_c(argc == 3 ? argv[2] : "0");
    if (argc == 3 && strcmp(argv[1], "deaf") == 0) {
        SetConsoleCtrlHandler(NULL, TRUE);
        Sleep((DWORD)(atof(argv[2]) * 1000));
        puts("slept");
        return 0;
    }
    fputs("usage: host_peer argv|exit|hold_child|alive ...\n", stderr);
    return 2;
}
