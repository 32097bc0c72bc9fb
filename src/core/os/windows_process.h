/* Child processes on Windows (windows_process.c): CreateProcessW from a UTF-8 argv, each child
 * in a job object of its own, handed only the standard handles meant for it. No Windows
 * types here: the host and the binding include it without <windows.h>. */
#ifndef BT_OS_WINDOWS_PROCESS_H
#define BT_OS_WINDOWS_PROCESS_H

#include <stddef.h>

#include "../errors.h"

typedef struct bt_wproc bt_wproc;

typedef struct bt_wproc_req {
    const char *const *argv; /* UTF-8, NULL-terminated: quoted so the child's argv is this */
    const char *cmdline;     /* instead of argv: the whole command line, used as it is */
    const char *const *env;  /* changes to our environment: "NAME=VALUE" sets, "NAME" removes;
                              * NULL: ours unchanged */
    size_t nenv;
    const char *cwd;         /* folder to start in, or NULL */
    void *stdio[3];          /* HANDLEs to become the child's stdin, stdout, stderr; NULL: ours */
    int kill_on_close;       /* the job kills the child (and what it starts) once its last
                              * handle closes: when we end, however we end */
} bt_wproc_req;

/* Start the child, suspended until it is in its job. The handle, or NULL with *err filled
 * in (op "run" when the program cannot be started, "change to the folder" for cwd). */
bt_wproc *bt_wproc_start(const bt_wproc_req *r, bt_err *err);

unsigned long bt_wproc_pid(const bt_wproc *p);

/* The process's HANDLE, signalled when it ends (for a wait on several things at once). */
void *bt_wproc_handle(const bt_wproc *p);

/* Wait up to `seconds` (negative: no limit): 1 once it has ended (*code is its exit code),
 * 0 while it still runs, -1 with errno set on failure. */
int bt_wproc_wait(bt_wproc *p, double seconds, unsigned long *code);

/* End it with exit code `code`: the child alone, or (tree) every process of its job. 0, or
 * -1 with errno set: ESRCH once it has ended. */
int bt_wproc_kill(bt_wproc *p, int tree, unsigned code);

/* The owner lets go. Once the child has ended its handles are closed (with kill_on_close,
 * this ends what it left running in its job); while it runs they are kept, so that it still
 * ends with us and bt_wproc_stop_all still reaches it, and closed by a later
 * bt_wproc_sweep once it has ended. */
void bt_wproc_free(bt_wproc *p);

/* Frees the children let go of that have ended since (bt_wproc_start and the looks at a
 * child or a poll call it, so that a script that starts no more children frees them too). */
void bt_wproc_sweep(void);

/* End every child started here that still runs (let go of or not), and wait for them (a
 * host's cleanup). */
void bt_wproc_stop_all(void);

/* A pipe whose ends (HANDLEs: ends[0] reads, ends[1] writes) no child inherits unless
 * handed one. BT_OK, or BT_FAIL with *err. */
int bt_wproc_pipe(void *ends[2], bt_err *err);

enum { BT_WSTREAM_READ, BT_WSTREAM_WRITE, BT_WSTREAM_APPEND };

/* A file for a child's standard stream (write: created or truncated; append: created if
 * missing), shared with every other opener, not inheritable: its HANDLE, or NULL with *err. */
void *bt_wproc_open_stream(const char *path, int how, bt_err *err);

/* The command line that gives a program started with it (through the C runtime's parsing
 * or CommandLineToArgvW) exactly `argv` (UTF-8, NULL-terminated). malloc'ed; NULL with
 * errno EINVAL when argv[0] holds a quote (no program name can), ENOMEM. */
char *bt_win_command_line(const char *const *argv);

#endif
