/* Child processes: spawn without a shell, track, wait, signal (spawn.h). */
#define _GNU_SOURCE
#include "spawn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include "os/os.h"
#if BT_OS_LINUX
#include <sys/prctl.h>
#endif
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "child_io.h"

struct bt_child {
    pid_t pid;
    int pidfd;    /* readable once the child ends; -1 when unavailable or reaped */
    int group;    /* leads its own process group */
    int detach;
    int done;     /* reaped: code and signo are final */
    int code;
    int signo;
    int orphan;   /* its owner let go: free once reaped */
    int tie;      /* die_with_parent without a parent-death signal: the pipe's write end */
    bt_child *next;
};

/* Every child not yet freed, newest first. */
static bt_child *children;

/* What a child that could not exec sends back through its report pipe. */
struct report {
    int stage; /* 0: chdir, 1: exec, 2: setting up descriptors */
    int code;  /* errno */
};

static const char *const stages[] = {"change to the folder", "run", "set up descriptors for"};

/* ---- in the child, between fork and exec: system calls only ---- */

static void default_signals(void) {
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction sa;
        if (sigaction(sig, NULL, &sa) != 0)
            continue;
        if (sa.sa_handler != SIG_DFL && (sa.sa_handler != SIG_IGN || sig == SIGPIPE)) {
            sa.sa_handler = SIG_DFL;
            sa.sa_flags = 0;
            sigemptyset(&sa.sa_mask);
            sigaction(sig, &sa, NULL);
        }
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Close on exec everything from 3 up, then hand over the kept descriptors. */
static int close_the_rest(const bt_spawn_req *r) {
#ifdef CLOSE_RANGE_CLOEXEC
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
#endif
    {
        long max = sysconf(_SC_OPEN_MAX);
        if (max < 0 || max > 65536)
            max = 65536;
        for (int fd = 3; fd < max; fd++)
            if (fcntl(fd, F_GETFD) >= 0)
                fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    for (int i = 0; i < r->nkeep; i++)
        if (fcntl(r->keep[i], F_SETFD, 0) != 0)
            return -1;
    return 0;
}

static int setup_stdio(const bt_spawn_req *r) {
    for (int i = 0; i < 3; i++) {
        int fd = r->stdio[i];
        if (fd == BT_SAME_AS_STDOUT && i == 2)
            fd = 1;
        if (fd < 0)
            continue;
        if (dup2(fd, i) < 0)
            return -1;
        if (fd == i && fcntl(i, F_SETFD, 0) != 0) /* dup2 onto itself keeps close-on-exec */
            return -1;
    }
    return 0;
}

static void report_and_exit(int fd, int stage) {
    struct report rep = {stage, errno};
    ssize_t n;
    do
        n = write(fd, &rep, sizeof rep);
    while (n < 0 && errno == EINTR);
    _exit(127);
}

#if defined(PR_SET_PDEATHSIG) && defined(PR_SET_CHILD_SUBREAPER)
#define HAVE_GUARD 1 /* die_with_parent by the parent-death signal, guard a subreaper */

/* Ask for `sig` when the parent dies. A parent that died before the request has left the
 * child to another process already (getppid changed): 1 then, and it must not go on. */
static int tie_to_parent(pid_t parent, int sig) {
    bt_os_parent_death(sig);
    return getppid() != parent;
}
#endif

/* End as the command ended: its exit status, or death by its signal (without a core). */
static void end_like(int status) {
    if (!WIFSIGNALED(status))
        _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128);
    int sig = WTERMSIG(status);
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    sigprocmask(SIG_UNBLOCK, &one, NULL);
    kill(getpid(), sig);
    _exit(128 + sig);
}

#ifdef HAVE_GUARD

/* The guard's wake-up call when its parent dies. */
#define GUARD_WAKE SIGUSR2

/* SIGKILL every child of the guard (the command, and the processes the command's dead
 * left to it), read from /proc/self/task/PID/children. */
static void kill_children(void) {
    char path[64] = "/proc/self/task/";
    char digits[24];
    int n = 0;
    for (long v = (long)getpid(); v > 0 && n < (int)sizeof digits; v /= 10)
        digits[n++] = (char)('0' + v % 10);
    size_t at = strlen(path);
    while (n > 0)
        path[at++] = digits[--n];
    memcpy(path + at, "/children", sizeof "/children");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[4096];
    long pid = 0;
    ssize_t got;
    while ((got = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < got; i++) {
            if (buf[i] >= '0' && buf[i] <= '9') {
                pid = pid * 10 + (buf[i] - '0');
            } else if (pid > 0) {
                kill((pid_t)pid, SIGKILL);
                pid = 0;
            }
        }
    }
    if (pid > 0)
        kill((pid_t)pid, SIGKILL);
    close(fd);
}

/* The parent died: kill the command and everything below it. Each death hands the guard
 * (a child subreaper) the orphans of the one that died, killed in turn, until none is left. */
static void kill_tree(pid_t cmd) {
    kill(cmd, SIGKILL);
    for (;;) {
        kill_children();
        pid_t got = waitpid(-1, NULL, 0);
        if (got < 0 && errno == ECHILD)
            break;
    }
    _exit(128 + SIGKILL);
}

/* die_with_parent: this child becomes a guard that starts the command as its own child and
 * stays between it and the parent. It returns only in the command. The guard passes on the
 * signals sent to it, ends as the command ends, and when the parent dies (however: its
 * PR_SET_PDEATHSIG wakes the guard) kills the command and everything the command started,
 * which come to the guard as a child subreaper. The command also dies at once if the guard
 * does (SIGKILL): then its orphans go to the nearest subreaper, or init. */
static void guard(int report_fd, pid_t parent) {
    if (tie_to_parent(parent, GUARD_WAKE))
        _exit(128 + SIGKILL); /* the parent is gone already: start nothing */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    /* SIGCHLD (blocked, as all are) must be at its default before the command can end: never
     * SIG_IGN, which would reap it unseen, and setting it later would discard a pending one. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGCHLD, &dfl, NULL);
    pid_t self = getpid();
    pid_t cmd = fork();
    if (cmd < 0)
        report_and_exit(report_fd, 2);
    if (cmd == 0) {
        if (tie_to_parent(self, SIGKILL))
            kill(getpid(), SIGKILL);
        return;
    }
    /* Keep nothing of the parent's open: not the lock file, not the caller's pipes. */
#ifdef CLOSE_RANGE_UNSHARE
    if (close_range(0, ~0U, 0) != 0)
#endif
    {
        struct rlimit lim;
        rlim_t max = getrlimit(RLIMIT_NOFILE, &lim) == 0 ? lim.rlim_cur : 1024;
        if (max > 65536)
            max = 65536;
        for (rlim_t fd = 0; fd < max; fd++)
            close((int)fd);
    }
    sigset_t all;
    sigfillset(&all);
    const struct timespec second = {1, 0};
    for (;;) {
        siginfo_t si;
        /* A look every second besides, whatever signals say. */
        int sig = sigtimedwait(&all, &si, &second);
        if (getppid() != parent)
            kill_tree(cmd);
        if (sig < 0 || sig == SIGCHLD) {
            int status;
            pid_t got;
            while ((got = waitpid(-1, &status, WNOHANG)) > 0)
                if (got == cmd)
                    end_like(status);
            if (got < 0 && errno == ECHILD)
                _exit(128); /* the command is gone without a status */
            continue;
        }
        /* Pass on what was sent to us; the terminal's signals (SI_KERNEL) reach the command
         * by themselves, as it is in the same process group. */
        if (si.si_code != SI_KERNEL)
            kill(cmd, sig);
    }
}
#endif

#ifndef HAVE_GUARD
/* Without a parent-death signal: the parent keeps the write end of a pipe made for this
 * child (`tie`), the only one left open (every other copy is closed, or closed on exec).
 * Its read end comes to end of file when the parent dies, whatever kills it; a byte on it is
 * the parent's word that it has reaped the child, so nothing is to be killed. */

/* Close every descriptor but the n in keep. */
static void close_all_but(const int *keep, int n) {
    struct rlimit lim;
    rlim_t max = getrlimit(RLIMIT_NOFILE, &lim) == 0 ? lim.rlim_cur : 1024;
    if (max > 65536)
        max = 65536;
    for (rlim_t fd = 0; fd < max; fd++) {
        int kept = 0;
        for (int i = 0; i < n; i++)
            kept |= keep[i] == (int)fd;
        if (!kept)
            close((int)fd);
    }
}

/* 1 when the parent died, 0 when it gave its word, -1 when the read was cut short. */
static int parent_died(int tie) {
    char b;
    ssize_t n = read(tie, &b, 1);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return -1;
    return n <= 0;
}

/* die_with_parent = true: a watcher, never the command's child (a grandchild that its
 * parent leaves to init at once), in a session of its own and deaf to every signal but
 * SIGKILL, waits on the pipe and SIGKILLs the command (this process, soon exec'd) when the
 * parent dies. A command that has already ended is then a zombie of the dead parent, whose
 * pid init reaps before it can be reused. */
static void watch_parent(int report_fd, int tie) {
    pid_t cmd = getpid();
    pid_t mid = fork();
    if (mid < 0)
        report_and_exit(report_fd, 2);
    if (mid == 0) {
        pid_t w = fork();
        if (w != 0)
            _exit(w < 0 ? 1 : 0);
        setsid();
        close_all_but(&tie, 1);
        int died;
        while ((died = parent_died(tie)) < 0)
            ;
        if (died) /* else the parent's word: the command has been reaped */
            kill(cmd, SIGKILL);
        _exit(0);
    }
    int status;
    while (waitpid(mid, &status, 0) < 0 && errno == EINTR)
        ;
    close(tie);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        errno = EAGAIN;
        report_and_exit(report_fd, 2);
    }
}

/* The portable guard's signals, as bytes through a pipe to its loop. */
static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig) {
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    if (write(sig_pipe[1], &b, 1) < 0) {
        /* full: signals of that kind are pending already */
    }
    errno = saved;
}

/* The terminal this process's group has in the foreground, or -1. */
static int foreground_tty(void) {
    int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (tty >= 0 && tcgetpgrp(tty) != getpgrp()) {
        close(tty);
        tty = -1;
    }
    return tty;
}

/* The guard ends: the terminal goes back to its group, then it ends as the command did. */
static void guard_end(int tty, int status) {
    if (tty >= 0) {
        sigset_t all;
        sigfillset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL); /* SIGTTOU blocked: a background group may */
        tcsetpgrp(tty, getpgrp());
    }
    end_like(status);
}

/* The command ended (SIGCHLD): end as it did. */
static void guard_reap(int tty, pid_t cmd) {
    int status;
    pid_t got;
    while ((got = waitpid(-1, &status, WNOHANG)) > 0)
        if (got == cmd)
            guard_end(tty, status);
    if (got < 0 && errno == ECHILD)
        _exit(128); /* the command is gone without a status */
}

/* die_with_parent = "tree": this child becomes a guard that starts the command as its own
 * child, leading a process group of its own (with the terminal, when this group had it), and
 * stays between it and the parent: it passes on the signals sent to it to the command's
 * group, ends as the command ends, and SIGKILLs that group when the pipe says the parent has
 * died. It returns only in the command. */
static void guard(int report_fd, int tie) {
    if (bt_os_pipe(sig_pipe) != 0 || fcntl(sig_pipe[1], F_SETFL, O_NONBLOCK) != 0)
        report_and_exit(report_fd, 2);
    int tty = foreground_tty();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_NOCLDSTOP;
    sigfillset(&sa.sa_mask);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &sa, NULL); /* signals are blocked until the loop */
    pid_t cmd = fork();
    if (cmd < 0)
        report_and_exit(report_fd, 2);
    if (cmd == 0) {
        setpgid(0, 0);
        if (tty >= 0) {
            tcsetpgrp(tty, getpgrp()); /* SIGTTOU is blocked, so a background group may */
            close(tty);
        }
        close(tie);
        close(sig_pipe[0]);
        close(sig_pipe[1]);
        return; /* child() puts the signals back to their defaults */
    }
    setpgid(cmd, cmd); /* whichever of the two runs first */
    int keep[4] = {tie, sig_pipe[0], sig_pipe[1], tty};
    close_all_but(keep, 4);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct pollfd p[2] = {{tie, POLLIN, 0}, {sig_pipe[0], POLLIN, 0}};
    for (;;) {
        if (poll(p, 2, -1) < 0)
            continue;
        int died = p[0].revents ? parent_died(p[0].fd) : -1;
        if (died > 0) {
            kill(-cmd, SIGKILL);
            kill(cmd, SIGKILL);
            _exit(128 + SIGKILL);
        }
        if (died == 0)
            p[0].fd = -1; /* the parent's word: it reaped us, nothing left to guard */
        if (!p[1].revents)
            continue;
        unsigned char sigs[64];
        ssize_t n = read(sig_pipe[0], sigs, sizeof sigs);
        for (ssize_t i = 0; i < n; i++) {
            if (sigs[i] == SIGCHLD)
                guard_reap(tty, cmd);
            else
                kill(-cmd, sigs[i]);
        }
    }
}
#endif

/* Returns in the child that goes on to run the command. */
static void die_with_parent(int how, int report_fd, pid_t parent, int tie) {
#ifdef HAVE_GUARD
    (void)tie;
    if (how == BT_DIE_TREE) {
        guard(report_fd, parent);
        return;
    }
    if (tie_to_parent(parent, SIGKILL))
        kill(getpid(), SIGKILL);
#else
    (void)parent;
    if (how == BT_DIE_TREE)
        guard(report_fd, tie);
    else
        watch_parent(report_fd, tie);
#endif
}

static void child(const bt_spawn_req *r, int report_fd, pid_t parent, const int tie[2]) {
    if (r->detach)
        setsid();
    else if (r->new_group)
        setpgid(0, 0);
    if (r->die_with_parent) {
        if (tie[1] >= 0)
            close(tie[1]);
        die_with_parent(r->die_with_parent, report_fd, parent, tie[0]);
    }
    default_signals();
    if (setup_stdio(r) != 0 || close_the_rest(r) != 0)
        report_and_exit(report_fd, 2);
    if (r->cwd && chdir(r->cwd) != 0)
        report_and_exit(report_fd, 0);
    if (r->envp)
        *bt_os_environ() = (char **)r->envp;
    execvp(r->argv[0], r->argv);
    report_and_exit(report_fd, 1);
}

/* ---- in the parent ---- */

/* Give the child's watcher or guard our word that the child is reaped, and let go of the
 * pipe. A watcher that is gone (killed) must not bring SIGPIPE upon us. */
static void untie(int *tie) {
    if (*tie < 0)
        return;
    sigset_t pipe_only, old, pending;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    sigprocmask(SIG_BLOCK, &pipe_only, &old);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    ssize_t n;
    do
        n = write(*tie, "", 1);
    while (n < 0 && errno == EINTR);
    int sig;
    if (n < 0 && errno == EPIPE && !was_pending && !sigismember(&old, SIGPIPE) &&
        sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE))
        sigwait(&pipe_only, &sig);
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(*tie);
    *tie = -1;
}

static void unlink_child(bt_child *c) {
    for (bt_child **p = &children; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    if (c->pidfd >= 0)
        close(c->pidfd);
    untie(&c->tie);
    free(c);
}

static void record(bt_child *c, int status) {
    c->done = 1;
    untie(&c->tie);
    if (WIFSIGNALED(status)) {
        c->signo = WTERMSIG(status);
        c->code = 128 + c->signo;
    } else {
        c->signo = 0;
        c->code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    }
    if (c->pidfd >= 0) {
        close(c->pidfd);
        c->pidfd = -1;
    }
}

/* Reap if ended; `block` waits for it. 1 ended, 0 running, -1 error. */
static int reap(bt_child *c, int block) {
    if (c->done)
        return 1;
    int status;
    pid_t got;
    do
        got = waitpid(c->pid, &status, block ? 0 : WNOHANG);
    while (got < 0 && errno == EINTR);
    if (got == 0)
        return 0;
    if (got < 0) {
        int saved = errno;
        c->done = 1; /* gone from under us (reaped elsewhere): never signal that pid again */
        untie(&c->tie);
        c->code = -1;
        c->signo = 0;
        errno = saved;
        return -1;
    }
    record(c, status);
    return 1;
}

/* Free orphans that have ended. */
static void sweep(void) {
    bt_child *c = children;
    while (c) {
        bt_child *next = c->next;
        if (c->orphan && reap(c, 0) != 0)
            unlink_child(c);
        c = next;
    }
}

bt_child *bt_spawn(const bt_spawn_req *r, bt_err *err) {
    sweep();
    bt_child *c = calloc(1, sizeof *c);
    if (!c) {
        err->op = "start";
        err->code = ENOMEM;
        err->detail = NULL;
        return NULL;
    }
    c->tie = -1;
    int rep[2];
    if (bt_pipe(rep, err) != BT_OK) {
        free(c);
        return NULL;
    }
    int tie[2] = {-1, -1};
#ifndef HAVE_GUARD
    if (r->die_with_parent && bt_pipe(tie, err) != BT_OK) {
        close(rep[0]);
        close(rep[1]);
        free(c);
        return NULL;
    }
#endif
    /* Signals stay blocked until the child has put default handlers in place: a host's
     * handler must never run in the child. */
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        free(c); /* the parent's record: a guard that lives on in the child must not carry it */
        child(r, rep[1], parent, tie);
    }
    int fork_errno = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(rep[1]);
    if (tie[0] >= 0)
        close(tie[0]);
    c->tie = tie[1];
    if (pid < 0) {
        untie(&c->tie);
        close(rep[0]);
        free(c);
        err->op = "start";
        err->code = fork_errno;
        err->detail = NULL;
        return NULL;
    }
    struct report got;
    ssize_t n;
    do
        n = read(rep[0], &got, sizeof got);
    while (n < 0 && errno == EINTR);
    close(rep[0]);
    if (n == (ssize_t)sizeof got) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        untie(&c->tie);
        free(c);
        err->op = stages[got.stage >= 0 && got.stage <= 2 ? got.stage : 1];
        err->code = got.code;
        err->detail = NULL;
        return NULL;
    }
    c->pid = pid;
    c->pidfd = bt_os_pidfd(pid);
    c->group = r->new_group || r->detach;
    c->detach = r->detach;
    c->next = children;
    children = c;
    return c;
}

pid_t bt_child_pid(const bt_child *c) { return c->pid; }

int bt_child_poll(bt_child *c, int *code, int *signo) {
    int r = reap(c, 0);
    if (r == 1) {
        *code = c->code;
        *signo = c->signo;
    }
    return r;
}

int bt_child_pollfd(const bt_child *c) { return c->done ? -1 : c->pidfd; }

int bt_child_signal(bt_child *c, int sig) {
    if (c->done) {
        errno = ESRCH;
        return -1;
    }
    return kill(c->group ? -c->pid : c->pid, sig);
}

void bt_child_release(bt_child *c) {
    c->orphan = 1;
    if (reap(c, 0) != 0)
        unlink_child(c);
}

/* Sleep that a signal does not cut short. */
static void pause_for(double seconds) {
    struct timespec ts = {0, (long)(seconds * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- orphans of our children, adopted ---- */

static int adopting; /* this process is a child subreaper */

int bt_children_adopt(void) {
#ifdef PR_SET_CHILD_SUBREAPER
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) == 0) {
        adopting = 1;
        return 0;
    }
#endif
    return -1;
}

static int tracked(pid_t pid) {
    for (bt_child *c = children; c; c = c->next)
        if (c->pid == pid)
            return 1;
    return 0;
}

/* Our children that bt_spawn did not start (orphans we adopted), up to `max` of them, from
 * /proc/self/task/TID/children of every thread. A child's pid cannot be reused before we
 * reap it, so signalling these is safe. */
static int adopted(pid_t *out, int max) {
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while (n < max && (e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[64];
        snprintf(path, sizeof path, "/proc/self/task/%.20s/children", e->d_name);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        long pid;
        while (n < max && fscanf(f, "%ld", &pid) == 1)
            if (pid > 0 && !tracked((pid_t)pid))
                out[n++] = (pid_t)pid;
        fclose(f);
    }
    closedir(d);
    return n;
}

/* 1 when every one of them has been reaped (entries set to 0 as they are). */
static int reap_some(pid_t *pids, int n) {
    int left = 0;
    for (int i = 0; i < n; i++) {
        if (!pids[i])
            continue;
        int status;
        pid_t got = waitpid(pids[i], &status, WNOHANG);
        if (got == pids[i] || (got < 0 && errno == ECHILD))
            pids[i] = 0;
        else
            left = 1;
    }
    return !left;
}

/* Stop what our children left behind: SIGTERM, SIGKILL after `grace`, reaped; again while
 * their deaths hand us more. */
static void stop_adopted(double grace) {
    enum { MAX = 256 };
    pid_t pids[MAX];
    for (int round = 0; round < 64; round++) {
        int n = adopted(pids, MAX);
        if (n == 0)
            return;
        for (int i = 0; i < n; i++)
            kill(pids[i], SIGTERM);
        double deadline = bt_now() + grace;
        while (!reap_some(pids, n) && bt_now() < deadline)
            pause_for(0.01);
        for (int i = 0; i < n; i++)
            if (pids[i]) {
                kill(pids[i], SIGKILL);
                while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
                    ;
            }
    }
}

void bt_children_stop(double grace) {
    int any = 0;
    for (bt_child *c = children; c; c = c->next) {
        if (c->detach || reap(c, 0) != 0)
            continue;
        bt_child_signal(c, SIGTERM);
        any = 1;
    }
    double deadline = bt_now() + grace;
    while (any && bt_now() < deadline) {
        any = 0;
        for (bt_child *c = children; c; c = c->next)
            if (!c->detach && reap(c, 0) == 0)
                any = 1;
        if (any)
            pause_for(0.01);
    }
    for (bt_child *c = children; c; c = c->next) {
        if (c->detach || reap(c, 0) != 0)
            continue;
        bt_child_signal(c, SIGKILL);
        reap(c, 1);
    }
    if (adopting)
        stop_adopted(grace);
    sweep();
}
