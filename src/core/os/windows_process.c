/* Child processes on Windows (windows_process.h). A child is made with CreateProcessW,
 * suspended, put in a job object of its own and only then let run, so that nothing it
 * starts escapes the job; with kill_on_close the job carries
 * JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE, and the system ends the job's processes once its last
 * handle is closed: when this process ends, however it ends. The child inherits exactly its
 * three standard handles: inheritable copies made for the call alone and named in
 * PROC_THREAD_ATTRIBUTE_HANDLE_LIST, so that no other handle of ours (a lock file's) can
 * reach it. It runs in our console and process group: a Ctrl-C there reaches it directly. */
#include "windows_process.h"

#include "windows.h"
#include "windows_interrupt.h"
#include "../spawn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

struct bt_wproc {
    HANDLE process, job;
    DWORD pid;
    int ended;
    int released; /* its owner let go while it ran: freed once it has ended */
    DWORD code;
    struct bt_wproc *next, *prev; /* every child not yet freed, for bt_wproc_stop_all */
};

static bt_wproc *children;
static SRWLOCK children_guard = SRWLOCK_INIT;

/* ---- command lines --------------------------------------------------------------------- */

typedef struct {
    char *s;
    size_t len, cap;
} buf;

static int put(buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 256) + n;
        char *s2 = realloc(b->s, cap);
        if (!s2)
            return -1;
        b->s = s2;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
    return 0;
}

static int put_backslashes(buf *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (put(b, "\\", 1) != 0)
            return -1;
    return 0;
}

/* An argument after the first, as the C runtime splits them: quoted when it is empty or
 * holds a blank or a quote; inside quotes, backslashes are literal except before a quote,
 * where 2n backslashes stand for n and 2n+1 for n and the quote. */
static int put_argument(buf *b, const char *a) {
    if (*a && !strpbrk(a, " \t\n\v\""))
        return put(b, a, strlen(a));
    if (put(b, "\"", 1) != 0)
        return -1;
    for (const char *p = a;; p++) {
        size_t n = 0;
        while (*p == '\\') {
            n++;
            p++;
        }
        if (*p == '\0') /* before the closing quote: every backslash doubled */
            return put_backslashes(b, 2 * n) != 0 || put(b, "\"", 1) != 0 ? -1 : 0;
        if (*p == '"') {
            if (put_backslashes(b, 2 * n + 1) != 0 || put(b, "\"", 1) != 0)
                return -1;
        } else if (put_backslashes(b, n) != 0 || put(b, p, 1) != 0) {
            return -1;
        }
    }
}

char *bt_win_command_line(const char *const *argv) {
    buf b = {NULL, 0, 0};
    /* The program's name ends at the next quote (inside quotes) or blank, backslashes
     * being literal: it can hold no quote. */
    const char *name = argv[0];
    if (strchr(name, '"')) {
        errno = EINVAL;
        return NULL;
    }
    int quote = !*name || strpbrk(name, " \t") != NULL;
    int bad = (quote && put(&b, "\"", 1) != 0) || put(&b, name, strlen(name)) != 0 ||
              (quote && put(&b, "\"", 1) != 0);
    for (size_t i = 1; argv[i] && !bad; i++)
        bad = put(&b, " ", 1) != 0 || put_argument(&b, argv[i]) != 0;
    if (bad) {
        free(b.s);
        errno = ENOMEM;
        return NULL;
    }
    return b.s;
}

/* ---- the environment ------------------------------------------------------------------- */

/* The length of an entry's name ("=C:=C:\x" is named "=C:"). */
static size_t name_len(const wchar_t *e) {
    const wchar_t *eq = wcschr(e + (*e != 0), L'=');
    return eq ? (size_t)(eq - e) : wcslen(e);
}

/* Our environment with the changes made, as a block for CREATE_UNICODE_ENVIRONMENT (NUL
 * after each entry, another at the end); NULL with *e set. Names compare as Windows
 * compares them, without regard to case. */
static wchar_t *env_block(const char *const *changes, size_t n, DWORD *e) {
    wchar_t **w = calloc(n + 1, sizeof *w);
    wchar_t *ours = GetEnvironmentStringsW(), *block = NULL;
    if (!w || !ours) {
        *e = ERROR_NOT_ENOUGH_MEMORY;
        goto done;
    }
    size_t total = 1;
    for (size_t i = 0; i < n; i++) {
        if (!*changes[i]) { /* names nothing */
            *e = ERROR_INVALID_NAME;
            goto done;
        }
        if (!(w[i] = bt_win_wide(changes[i], e)))
            goto done;
        total += wcslen(w[i]) + 2;
    }
    for (const wchar_t *p = ours; *p; p += wcslen(p) + 1)
        total += wcslen(p) + 1;
    if (!(block = malloc(total * sizeof *block))) {
        *e = ERROR_NOT_ENOUGH_MEMORY;
        goto done;
    }
    wchar_t *out = block;
    for (const wchar_t *p = ours; *p; p += wcslen(p) + 1) {
        size_t len = name_len(p), k;
        for (k = 0; k < n; k++)
            if (name_len(w[k]) == len && _wcsnicmp(p, w[k], len) == 0)
                break;
        if (k < n)
            continue; /* changed or removed */
        wcscpy(out, p);
        out += wcslen(p) + 1;
    }
    for (size_t k = 0; k < n; k++) {
        if (!wcschr(w[k] + 1, L'='))
            continue; /* a bare name: removed */
        wcscpy(out, w[k]);
        out += wcslen(w[k]) + 1;
    }
    *out = L'\0';
done:
    if (ours)
        FreeEnvironmentStringsW(ours);
    for (size_t i = 0; w && i < n; i++)
        free(w[i]);
    free(w);
    return block;
}

/* ---- starting -------------------------------------------------------------------------- */

/* The job: kill_on_close makes the system end its processes with its last handle. */
static HANDLE new_job(int kill_on_close) {
    HANDLE job = CreateJobObjectW(NULL, NULL);
    if (!job || !kill_on_close)
        return job;
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION info;
    memset(&info, 0, sizeof info);
    info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    if (!SetInformationJobObject(job, JobObjectExtendedLimitInformation, &info, sizeof info)) {
        DWORD e = GetLastError();
        CloseHandle(job);
        SetLastError(e);
        return NULL;
    }
    return job;
}

/* The child's standard handles: inheritable copies of what it is given (or of ours), to be
 * closed after the call; `list` gets each distinct one. */
typedef struct {
    HANDLE dup[3];
    HANDLE list[3];
    int nlist;
} std_handles;

static DWORD copy_std(std_handles *s, void *const given[3]) {
    static const DWORD ours[3] = {STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, STD_ERROR_HANDLE};
    memset(s, 0, sizeof *s);
    for (int i = 0; i < 3; i++) {
        HANDLE h = given[i] ? (HANDLE)given[i] : GetStdHandle(ours[i]);
        if (h == NULL || h == INVALID_HANDLE_VALUE)
            continue; /* none to give (no console, a service) */
        int same = -1;
        for (int j = 0; j < i; j++)
            if (s->dup[j] && (given[j] ? (HANDLE)given[j] : GetStdHandle(ours[j])) == h)
                same = j;
        if (same >= 0) { /* stderr where stdout goes: one copy, listed once */
            if (!DuplicateHandle(GetCurrentProcess(), s->dup[same], GetCurrentProcess(), &s->dup[i], 0,
                                 TRUE, DUPLICATE_SAME_ACCESS))
                return GetLastError();
            s->list[s->nlist++] = s->dup[i];
            continue;
        }
        if (!DuplicateHandle(GetCurrentProcess(), h, GetCurrentProcess(), &s->dup[i], 0, TRUE,
                             DUPLICATE_SAME_ACCESS))
            return GetLastError();
        s->list[s->nlist++] = s->dup[i];
    }
    return 0;
}

static void close_std(std_handles *s) {
    for (int i = 0; i < 3; i++)
        if (s->dup[i])
            CloseHandle(s->dup[i]);
}

/* Why CreateProcessW failed, as a bt_err: a missing program is ENOENT for "run". */
static int start_failure(bt_err *err, const wchar_t *cwd, DWORD e) {
    if (cwd) {
        DWORD a = GetFileAttributesW(cwd);
        if (a == INVALID_FILE_ATTRIBUTES || !(a & FILE_ATTRIBUTE_DIRECTORY))
            return bt_fail(err, "change to the folder", a == INVALID_FILE_ATTRIBUTES ? ENOENT : ENOTDIR,
                           NULL);
    }
    if (e == ERROR_BAD_EXE_FORMAT || e == ERROR_EXE_MACHINE_TYPE_MISMATCH)
        return bt_fail(err, "run", ENOEXEC, NULL);
    return bt_win_fail(err, "run", e);
}

/* CreateProcessW with only `s`'s handles inherited, suspended. 0, or the error. */
static DWORD create(wchar_t *line, wchar_t *env, const wchar_t *cwd, std_handles *s,
                    PROCESS_INFORMATION *pi) {
    STARTUPINFOEXW si;
    memset(&si, 0, sizeof si);
    si.StartupInfo.cb = sizeof si;
    si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
    si.StartupInfo.hStdInput = s->dup[0];
    si.StartupInfo.hStdOutput = s->dup[1];
    si.StartupInfo.hStdError = s->dup[2];
    SIZE_T size = 0;
    InitializeProcThreadAttributeList(NULL, 1, 0, &size);
    si.lpAttributeList = malloc(size);
    if (!si.lpAttributeList)
        return ERROR_NOT_ENOUGH_MEMORY;
    DWORD e = 0;
    if (!InitializeProcThreadAttributeList(si.lpAttributeList, 1, 0, &size)) {
        e = GetLastError();
        free(si.lpAttributeList);
        return e;
    }
    if (s->nlist > 0 && !UpdateProcThreadAttribute(si.lpAttributeList, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST,
                                                   s->list, (SIZE_T)s->nlist * sizeof(HANDLE), NULL, NULL))
        e = GetLastError();
    DWORD flags = CREATE_SUSPENDED | CREATE_UNICODE_ENVIRONMENT | EXTENDED_STARTUPINFO_PRESENT;
    if (!e && !CreateProcessW(NULL, line, NULL, NULL, s->nlist > 0, flags, env, cwd, &si.StartupInfo, pi))
        e = GetLastError();
    DeleteProcThreadAttributeList(si.lpAttributeList);
    free(si.lpAttributeList);
    return e;
}


static void track(bt_wproc *p) {
    AcquireSRWLockExclusive(&children_guard);
    p->prev = NULL;
    p->next = children;
    if (children)
        children->prev = p;
    children = p;
    ReleaseSRWLockExclusive(&children_guard);
}

static void untrack(bt_wproc *p) {
    AcquireSRWLockExclusive(&children_guard);
    if (p->prev)
        p->prev->next = p->next;
    else
        children = p->next;
    if (p->next)
        p->next->prev = p->prev;
    ReleaseSRWLockExclusive(&children_guard);
}

bt_wproc *bt_wproc_start(const bt_wproc_req *r, bt_err *err) {
    bt_wproc_sweep();
    DWORD e = 0;
    char *line8 = r->cmdline ? NULL : bt_win_command_line(r->argv);
    if (!r->cmdline && !line8) {
        bt_fail(err, "run", errno, errno == EINVAL ? "a program name cannot hold a quote" : NULL);
        return NULL;
    }
    wchar_t *line = bt_win_wide(r->cmdline ? r->cmdline : line8, &e);
    free(line8);
    wchar_t *cwd = NULL, *env = NULL;
    bt_wproc *p = calloc(1, sizeof *p);
    std_handles s;
    memset(&s, 0, sizeof s);
    if (!line || !p || (r->cwd && !(cwd = bt_win_wide(r->cwd, &e))) ||
        (r->env && !(env = env_block(r->env, r->nenv, &e)))) {
        bt_win_fail(err, "run", p ? e : ERROR_NOT_ENOUGH_MEMORY);
        goto fail;
    }
    if (!(p->job = new_job(r->kill_on_close))) {
        bt_win_fail(err, "make a job object for", GetLastError());
        goto fail;
    }
    if ((e = copy_std(&s, r->stdio)) != 0) {
        bt_win_fail(err, "hand the standard handles to", e);
        goto fail;
    }
    PROCESS_INFORMATION pi;
    if ((e = create(line, env, cwd, &s, &pi)) != 0) {
        start_failure(err, cwd, e);
        goto fail;
    }
    if (!AssignProcessToJobObject(p->job, pi.hProcess)) {
        e = GetLastError();
        TerminateProcess(pi.hProcess, 1);
        CloseHandle(pi.hThread);
        CloseHandle(pi.hProcess);
        bt_win_fail(err, "put in a job object", e);
        goto fail;
    }
    ResumeThread(pi.hThread);
    CloseHandle(pi.hThread);
    p->process = pi.hProcess;
    p->pid = pi.dwProcessId;
    close_std(&s);
    free(line);
    free(cwd);
    free(env);
    track(p);
    return p;
fail:
    close_std(&s);
    if (p && p->job)
        CloseHandle(p->job);
    free(p);
    free(line);
    free(cwd);
    free(env);
    return NULL;
}

int bt_wproc_pipe(void *ends[2], bt_err *err) {
    HANDLE r, w;
    if (!CreatePipe(&r, &w, NULL, 0)) /* NULL attributes: not inheritable */
        return bt_win_fail(err, "make", GetLastError());
    ends[0] = r;
    ends[1] = w;
    return BT_OK;
}

void *bt_wproc_open_stream(const char *path, int how, bt_err *err) {
    DWORD e;
    wchar_t *w = bt_win_wide(path, &e);
    if (!w) {
        bt_win_fail(err, "open", e);
        return NULL;
    }
    DWORD access = how == BT_WSTREAM_READ ? GENERIC_READ : how == BT_WSTREAM_APPEND ? FILE_APPEND_DATA : GENERIC_WRITE;
    DWORD create = how == BT_WSTREAM_READ ? OPEN_EXISTING : how == BT_WSTREAM_APPEND ? OPEN_ALWAYS : CREATE_ALWAYS;
    HANDLE h = CreateFileW(w, access, BT_WIN_SHARE_ALL, NULL, create, FILE_ATTRIBUTE_NORMAL, NULL);
    e = GetLastError();
    free(w);
    if (h == INVALID_HANDLE_VALUE) {
        bt_win_fail(err, "open", e);
        return NULL;
    }
    return h;
}

/* ---- waiting and ending ---------------------------------------------------------------- */

unsigned long bt_wproc_pid(const bt_wproc *p) { return p->pid; }

void *bt_wproc_handle(const bt_wproc *p) { return p->process; }

/* A wait the interrupt event ends too (windows_interrupt.h; it then says "still runs"), or
 * one only the child's end or the time does (the stop of every child, which an interrupt
 * itself starts). */
static int wait_for(bt_wproc *p, double seconds, int interruptible, unsigned long *code) {
    if (!p->ended) {
        DWORD ms = INFINITE;
        if (seconds >= 0)
            ms = seconds > 4e6 ? 4000000000u : (DWORD)(seconds * 1000.0 + 0.999);
        int w = interruptible ? bt_win_wait_interruptible(p->process, ms)
                : WaitForSingleObject(p->process, ms) == WAIT_TIMEOUT ? 1 : 0;
        if (w == 1 || w == -1)
            return 0;
        if (w != 0 || WaitForSingleObject(p->process, 0) != WAIT_OBJECT_0 ||
            !GetExitCodeProcess(p->process, &p->code)) {
            errno = bt_win_errno(GetLastError());
            return -1;
        }
        p->ended = 1;
    }
    *code = p->code;
    return 1;
}

int bt_wproc_wait(bt_wproc *p, double seconds, unsigned long *code) {
    return wait_for(p, seconds, 1, code);
}

int bt_wproc_kill(bt_wproc *p, int tree, unsigned code) {
    unsigned long c;
    if (p->ended || bt_wproc_wait(p, 0, &c) == 1) {
        if (tree) /* what it started may still run in its job */
            TerminateJobObject(p->job, code);
        errno = ESRCH;
        return -1;
    }
    if (!(tree ? TerminateJobObject(p->job, code) : TerminateProcess(p->process, code))) {
        DWORD e = GetLastError();
        errno = bt_wproc_wait(p, 0, &c) == 1 ? ESRCH : bt_win_errno(e);
        return -1;
    }
    return 0;
}

static void destroy(bt_wproc *p) {
    untrack(p);
    CloseHandle(p->process);
    CloseHandle(p->job);
    free(p);
}

void bt_wproc_sweep(void) {
    for (;;) {
        bt_wproc *done = NULL;
        unsigned long code;
        AcquireSRWLockShared(&children_guard);
        for (bt_wproc *p = children; p && !done; p = p->next)
            if (p->released && bt_wproc_wait(p, 0, &code) != 0)
                done = p;
        ReleaseSRWLockShared(&children_guard);
        if (!done)
            return;
        destroy(done);
    }
}

/* A child that still runs keeps its handles (its job's among them, so that kill_on_close
 * still ends it with us, and bt_wproc_stop_all still reaches it) until it has ended. */
void bt_wproc_free(bt_wproc *p) {
    unsigned long code;
    if (!p)
        return;
    if (bt_wproc_wait(p, 0, &code) == 0) {
        p->released = 1;
        return;
    }
    destroy(p);
}

void bt_wproc_stop_all(void) {
    AcquireSRWLockShared(&children_guard);
    for (bt_wproc *p = children; p; p = p->next)
        if (!p->ended)
            TerminateJobObject(p->job, 1);
    for (bt_wproc *p = children; p; p = p->next) {
        unsigned long code;
        wait_for(p, -1, 0, &code);
    }
    ReleaseSRWLockShared(&children_guard);
}

/* spawn.h's stop for a host (the Lua host's cleanup before a script's error unwinds): on
 * Windows a child is ended at once, there being no signal to ask it first. */
void bt_children_stop(double grace) {
    (void)grace;
    bt_wproc_stop_all();
}
