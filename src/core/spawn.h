/* Child processes: started without a shell, every descriptor but the ones handed over closed
 * on exec, tracked so that a host can stop those still running when it is interrupted. */
#ifndef BT_SPAWN_H
#define BT_SPAWN_H

#include <sys/types.h>

#include "errors.h"

/* stdio value: leave the stream as ours; for stderr also: same as the child's stdout. */
#define BT_INHERIT (-1)
#define BT_SAME_AS_STDOUT (-2)

typedef struct bt_spawn_req {
    char *const *argv;  /* NULL-terminated; argv[0] is looked up in the child's PATH */
    char *const *envp;  /* the child's whole environment, or NULL for ours */
    const char *cwd;    /* folder to start in, or NULL */
    int stdio[3];       /* descriptor to become 0, 1, 2, or one of the values above */
    const int *keep;    /* descriptors the child keeps at the same numbers */
    int nkeep;
    int new_group;      /* lead a process group of its own, so a signal reaches its children */
    int detach;         /* a session of its own; never stopped by bt_children_stop */
    int die_with_parent; /* killed (SIGKILL) when this process dies, however it dies,
                          * SIGKILL included. BT_DIE_CHILD: the child, by PR_SET_PDEATHSIG
                          * (Linux), else by a watcher process at the end of file of a pipe
                          * only we write to. BT_DIE_TREE: the child and all it starts: a
                          * guard process (the pid we see) starts the command, passes signals
                          * on, ends as it ends, and kills its whole tree (Linux: as a child
                          * subreaper woken by PR_SET_PDEATHSIG; else the command's process
                          * group, at the pipe's end of file) */
} bt_spawn_req;

enum { BT_DIE_CHILD = 1, BT_DIE_TREE = 2 };

typedef struct bt_child bt_child;

/* Start a child. The handle, or NULL with *err filled in (op "run" when the program could
 * not be executed, "change to the folder" when cwd failed). */
bt_child *bt_spawn(const bt_spawn_req *r, bt_err *err);

pid_t bt_child_pid(const bt_child *c);

/* Reap without blocking: 1 when it has ended (*code is its exit status, or 128 + signal with
 * *signo set, else *signo is 0), 0 while it runs, -1 with errno set on failure. */
int bt_child_poll(bt_child *c, int *code, int *signo);

/* A descriptor that becomes readable when the child ends (a pidfd), or -1 when the system
 * has none: then the caller polls bt_child_poll. */
int bt_child_pollfd(const bt_child *c);

/* Send `sig` to the child (to its process group when it leads one). 0, or -1 with errno
 * set; ESRCH once it has been reaped, so a recycled pid is never signalled. */
int bt_child_signal(bt_child *c, int sig);

/* The owner lets go: the handle is freed once the child has been reaped (at once when it
 * has, else by a later bt_spawn or bt_children_stop). */
void bt_child_release(bt_child *c);

/* Stop every child still running, detached ones excepted: SIGTERM, then SIGKILL for those
 * still there after `grace` seconds; all are reaped before it returns. Signals arriving
 * meanwhile do not cut it short. After bt_children_adopt, the processes our children left
 * behind (adopted by us) are stopped the same way. */
void bt_children_stop(double grace);

/* Become a child subreaper (Linux): processes orphaned by our children's deaths become our
 * children rather than init's, so that bt_children_stop reaches what a command started, not
 * just the command. 0, or -1 where the system cannot. */
int bt_children_adopt(void);

#endif
