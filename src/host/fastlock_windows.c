/* `baton lock` on Windows (fastlock.h), without Lua: the flock lock (LockFileEx on the
 * file's first byte, src/core/os/windows.c), the command started in a job object that ends
 * it should baton end first, however it ends (src/core/os/windows_process.c), and the
 * command's exit code. The lock belongs to baton's handle, which no child inherits: it goes
 * when baton ends, killed or not, and with it the command.
 *
 * A Ctrl-C or Ctrl-Break in the console reaches the command itself (it shares baton's
 * console and process group); baton lets it through, waits for the command to end and exits
 * with its code (STATUS_CONTROL_C_EXIT, 0xC000013A, for a program that Ctrl-C ended).
 *
 * Command lines the shared reader (fastlock_line.c) does not take go to lua/baton/cli.lua,
 * which explains mistakes and says what is not available on Windows. */
#include "fastlock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include "../core/flock_lock.h"
#include "../core/os/windows_process.h"
#include "../core/signals.h"
#include "fastlock_line.h"

#define EX_DATAERR 65
#define EX_NOINPUT 66
#define EX_UNAVAILABLE 69
#define EX_OSERR 71
#define EX_CANTCREAT 73

/* Ctrl-C and Ctrl-Break are the command's to act on: baton waits for it to end. Closing
 * the console, logging off and shutting down end baton as by default, and the job the
 * command with it. */
static BOOL WINAPI on_console_event(DWORD event) {
    return event == CTRL_C_EVENT || event == CTRL_BREAK_EVENT;
}

/* While the lock is awaited, Ctrl-C and Ctrl-Break end baton at once, as they end a program
 * by default (nothing runs yet; the lock file's handle goes with the process). */
static BOOL WINAPI on_wait_event(DWORD event) {
    if (event == CTRL_C_EVENT || event == CTRL_BREAK_EVENT)
        ExitProcess((UINT)STATUS_CONTROL_C_EXIT);
    return FALSE;
}

static int resource_error(int e) { return e == ENOMEM || e == EMFILE || e == ENFILE || e == EAGAIN; }

/* The lock could not be taken: said as cli.lua says it, with flock(1)'s status. */
static int lock_failed(const char *file, const bt_err *err) {
    fprintf(stderr, "baton lock: cannot %s lock file '%s': %s\n", err->op, file,
            err->detail ? err->detail : strerror(err->code));
    if (resource_error(err->code) || err->code == ENOLCK)
        return EX_OSERR;
    if (strcmp(err->op, "lock") == 0)
        return EX_DATAERR;
    return err->code == EROFS || err->code == ENOSPC ? EX_CANTCREAT : EX_NOINPUT;
}

/* -c CMD: the command line `"%COMSPEC%" /d /s /c "CMD"`, which cmd.exe runs as CMD is
 * written (/s: only the outer quotes are taken off). malloc'ed, or NULL. */
static char *shell_line(const char *cmd) {
    const char *shell = getenv("COMSPEC");
    if (!shell || !*shell || strchr(shell, '"'))
        shell = "cmd.exe";
    size_t n = strlen(shell) + strlen(cmd) + 16;
    char *line = malloc(n);
    if (line)
        snprintf(line, n, "\"%s\" /d /s /c \"%s\"", shell, cmd);
    return line;
}

int bt_fast_lock(int argc, char **argv, int *status) {
    bt_fast_line f;
    if (!bt_fast_parse(&f, argc, argv))
        return 0;
    bt_flock l;
    bt_flock_init(&l, f.shared, 0666, 0);
    bt_err err;
    SetConsoleCtrlHandler(on_wait_event, TRUE);
    int sig = 0, rc = bt_fast_take(&l, &f, &sig, &err);
    SetConsoleCtrlHandler(on_wait_event, FALSE);
    if (rc != BT_OK) {
        bt_flock_release(&l);
        if (sig) /* noted before the handler above was in place */
            fprintf(stderr, "baton: interrupted by %s\n", bt_signal_name(sig));
        *status = sig ? 128 + sig : rc == BT_BUSY ? f.conflict : lock_failed(f.file, &err);
        return 1;
    }
    char *line = f.shell_command ? shell_line(f.shell_command) : NULL;
    bt_wproc_req r = {(const char *const *)f.command, line, NULL, 0, NULL, {NULL, NULL, NULL}, 1};
    SetConsoleCtrlHandler(on_console_event, TRUE);
    bt_wproc *p = f.shell_command && !line ? NULL : bt_wproc_start(&r, &err);
    if (f.shell_command && !line)
        bt_fail(&err, "run", ENOMEM, NULL);
    free(line);
    if (!p) {
        bt_flock_release(&l);
        fprintf(stderr, "baton lock: cannot %s '%s': %s\n", err.op,
                f.shell_command ? f.shell_command : f.command[0],
                err.detail ? err.detail : strerror(err.code));
        *status = resource_error(err.code) ? EX_OSERR : EX_UNAVAILABLE;
        return 1;
    }
    unsigned long code;
    int done = bt_wproc_wait(p, -1, &code);
    if (done != 1)
        fprintf(stderr, "baton lock: cannot wait for '%s': %s\n",
                f.shell_command ? f.shell_command : f.command[0], strerror(errno));
    bt_wproc_free(p); /* what the command left running in its job ends with it */
    bt_flock_release(&l);
    *status = done == 1 ? (int)code : EX_OSERR;
    return 1;
}
