/* baton.core's process functions on Windows (process.c's counterpart, the same names and
 * results for lua/baton/process.lua): children from core/os/windows_process.c, each in a
 * job object, pipes and files as C runtime descriptors over handles no child inherits
 * unless handed one, and a poll that wakes when a process it waits for ends (its handle)
 * and looks at pipes with PeekNamedPipe between pauses that back off (Windows cannot wait
 * on an anonymous pipe). A "signal" ends the process with exit code 128 + its number, which
 * the process object then reports as that signal. */
#include "process.h"
#include "binding.h"

#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <stdlib.h>
#include <string.h>

#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include "../core/clock.h"
#include "../core/os/windows_interrupt.h"
#include "../core/os/windows_process.h"

#define FD_MT "baton.fd"
#define PROC_MT "baton.process"
#define READ_MAX 65536
#define FIRST_PAUSE 0.001 /* poll's pauses between looks, doubling up to LAST_PAUSE */
#define LAST_PAUSE 0.01

typedef struct {
    int fd;       /* -1 once closed */
    int nonblock; /* reads return EAGAIN instead of waiting; writes take what fits */
} fd_ud;

typedef struct {
    bt_wproc *child; /* NULL once released */
    int tree;        /* group = true: a kill ends its whole job */
    int killed;      /* the signal that ended it through us, or 0 */
    int waitfd;      /* a descriptor over a copy of its process handle, for poll; or -1 */
} proc_ud;

static HANDLE handle_of(int fd) { return (HANDLE)_get_osfhandle(fd); }

static int win_errno(void) {
    DWORD e = GetLastError();
    return e == ERROR_BROKEN_PIPE || e == ERROR_NO_DATA ? EPIPE : e == ERROR_ACCESS_DENIED ? EACCES : EIO;
}

/* nil, "baton.spawn: cannot OP 'SUBJECT': reason", "ERRNO" */
static int push_fail(lua_State *L, const char *subject, const bt_err *err) {
    lua_pushfstring(L, "baton.spawn: cannot %s '%s'", err->op, subject);
    int n = bt_lua_push_error(L, lua_tostring(L, -1), err->code, err->detail);
    lua_remove(L, -n - 1);
    return n;
}

/* ---- descriptors ---- */

/* A descriptor object holding nothing yet (made before the handles it is to hold, so that
 * a memory error raised here leaks none). */
static fd_ud *new_ud(lua_State *L) {
    fd_ud *u = (fd_ud *)lua_newuserdata(L, sizeof *u);
    u->fd = -1;
    u->nonblock = 0;
    luaL_getmetatable(L, FD_MT);
    lua_setmetatable(L, -2);
    return u;
}

/* Puts h in u as a C runtime descriptor; closes h and returns -1 when none is left. */
static int attach(fd_ud *u, HANDLE h, int flags) {
    if ((u->fd = _open_osfhandle((intptr_t)h, flags)) < 0) {
        CloseHandle(h);
        return -1;
    }
    return 0;
}

static int out_of_descriptors(lua_State *L) { return luaL_error(L, "baton: out of C runtime descriptors"); }

static fd_ud *check_fd(lua_State *L, int idx) { return (fd_ud *)luaL_checkudata(L, idx, FD_MT); }

static fd_ud *open_fd(lua_State *L, int idx) {
    fd_ud *u = check_fd(L, idx);
    if (u->fd < 0)
        luaL_error(L, "baton: the descriptor is closed");
    return u;
}

/* core.pipe() -> reader, writer: handles no child inherits */
static int l_pipe(lua_State *L) {
    fd_ud *reader = new_ud(L), *writer = new_ud(L);
    void *ends[2];
    bt_err err;
    if (bt_wproc_pipe(ends, &err) != BT_OK)
        return bt_lua_push_error(L, "baton: cannot make a pipe", err.code, NULL);
    if (attach(reader, ends[0], _O_RDONLY) != 0) {
        CloseHandle(ends[1]);
        return out_of_descriptors(L);
    }
    if (attach(writer, ends[1], _O_WRONLY) != 0)
        return out_of_descriptors(L); /* the reader closes with its object */
    return 2;
}

/* core.open_stream(path, "r" | "w" | "a") -> fd */
static int l_open_stream(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    const char *how = luaL_checkstring(L, 2);
    int mode = how[0] == 'r' ? BT_WSTREAM_READ : how[0] == 'a' ? BT_WSTREAM_APPEND : BT_WSTREAM_WRITE;
    fd_ud *u = new_ud(L);
    bt_err err;
    void *h = bt_wproc_open_stream(path, mode, &err);
    if (!h)
        return push_fail(L, path, &err);
    if (attach(u, h, mode == BT_WSTREAM_READ ? _O_RDONLY : _O_WRONLY) != 0)
        return out_of_descriptors(L);
    return 1;
}

/* fd:read(max) -> data ("" at the end) | nil, message, code ("EAGAIN" when nothing yet) */
static int l_fd_read(lua_State *L) {
    fd_ud *u = open_fd(L, 1);
    lua_Integer max = luaL_optinteger(L, 2, READ_MAX);
    luaL_argcheck(L, max > 0, 2, "must be positive");
    DWORD want = max < READ_MAX ? (DWORD)max : READ_MAX, avail = 0, got = 0;
    HANDLE h = handle_of(u->fd);
    if (u->nonblock && !PeekNamedPipe(h, NULL, 0, NULL, &avail, NULL)) {
        if (GetLastError() == ERROR_BROKEN_PIPE)
            return lua_pushliteral(L, ""), 1; /* the writer has gone: the end */
        return bt_lua_push_error(L, "baton: cannot read from a pipe", win_errno(), NULL);
    }
    if (u->nonblock && avail == 0)
        return bt_lua_push_error(L, "baton: cannot read from a pipe", EAGAIN, NULL);
    if (u->nonblock && avail < want)
        want = avail;
    char buf[READ_MAX];
    if (!ReadFile(h, buf, want, &got, NULL) && GetLastError() != ERROR_BROKEN_PIPE)
        return bt_lua_push_error(L, "baton: cannot read from a pipe", win_errno(), NULL);
    lua_pushlstring(L, buf, got);
    return 1;
}

/* fd:write(data [, from]) -> bytes written | nil, message, code (EAGAIN: the pipe is full) */
static int l_fd_write(lua_State *L) {
    fd_ud *u = open_fd(L, 1);
    size_t len;
    const char *s = luaL_checklstring(L, 2, &len);
    lua_Integer from = luaL_optinteger(L, 3, 1);
    luaL_argcheck(L, from >= 1 && (size_t)from <= len + 1, 3, "out of range");
    size_t n = len - (size_t)(from - 1);
    DWORD put = 0;
    if (!WriteFile(handle_of(u->fd), s + from - 1, n > 0x10000000 ? 0x10000000 : (DWORD)n, &put, NULL))
        return bt_lua_push_error(L, "baton: cannot write to a pipe", win_errno(), NULL);
    if (put == 0 && n > 0)
        return bt_lua_push_error(L, "baton: cannot write to a pipe", EAGAIN, NULL);
    lua_pushinteger(L, (lua_Integer)put);
    return 1;
}

/* Reads stop waiting; a pipe's writes take what fits (PIPE_NOWAIT) instead of waiting. */
static int l_fd_nonblock(lua_State *L) {
    fd_ud *u = open_fd(L, 1);
    DWORD mode = PIPE_READMODE_BYTE | PIPE_NOWAIT;
    HANDLE h = handle_of(u->fd);
    if (GetFileType(h) == FILE_TYPE_PIPE)
        SetNamedPipeHandleState(h, &mode, NULL, NULL);
    u->nonblock = 1;
    lua_pushboolean(L, 1);
    return 1;
}

static int l_fd_fileno(lua_State *L) {
    fd_ud *u = check_fd(L, 1);
    return bt_lua_push_fd(L, u->fd);
}

static int l_fd_close(lua_State *L) {
    fd_ud *u = check_fd(L, 1);
    if (u->fd >= 0)
        _close(u->fd);
    u->fd = -1;
    return 0;
}

static int l_fd_tostring(lua_State *L) { return bt_lua_push_fd_name(L, check_fd(L, 1)->fd); }

/* ---- processes ---- */

static proc_ud *check_proc(lua_State *L) {
    proc_ud *u = (proc_ud *)luaL_checkudata(L, 1, PROC_MT);
    if (!u->child)
        luaL_error(L, "baton: the process handle is released");
    return u;
}

/* A stdio argument: nil is ours (NULL), an fd object hands its handle over. */
static void *stdio_arg(lua_State *L, int idx) {
    if (lua_isnoneornil(L, idx))
        return NULL;
    return handle_of(open_fd(L, idx)->fd);
}

static void unavailable(lua_State *L, int idx, const char *option) {
    int given = lua_type(L, idx) == LUA_TTABLE ? lua_rawlen(L, idx) > 0 : lua_toboolean(L, idx);
    if (given) {
        lua_pushfstring(L, "baton.spawn's option '%s' is not available on Windows yet", option);
        lua_error(L);
    }
}

/* core.spawn(argv, env_changes, cwd, stdin, stdout, stderr, keep, group, detach,
 *            die_with_parent) -> process */
static int l_spawn(lua_State *L) {
    size_t argc, nenv;
    const char **argv = bt_lua_string_array(L, 1, "argument", &argc);
    luaL_argcheck(L, argv && argc > 0, 1, "the command is empty");
    const char **env = bt_lua_string_array(L, 2, "environment entry", &nenv);
    unavailable(L, 7, "keep_fds");
    unavailable(L, 9, "detach");
    lua_getfield(L, 1, "cmdline"); /* a shell's line (core.shell_command), used as it is */
    bt_wproc_req r = {argv, lua_tostring(L, -1), env, nenv, luaL_optstring(L, 3, NULL),
                      {stdio_arg(L, 4), stdio_arg(L, 5), NULL}, lua_toboolean(L, 10)};
    if (lua_type(L, 6) == LUA_TSTRING && strcmp(lua_tostring(L, 6), "stdout") == 0)
        r.stdio[2] = r.stdio[1] ? r.stdio[1] : GetStdHandle(STD_OUTPUT_HANDLE);
    else
        r.stdio[2] = stdio_arg(L, 6);
    proc_ud *u = (proc_ud *)lua_newuserdata(L, sizeof *u);
    memset(u, 0, sizeof *u);
    u->waitfd = -1;
    luaL_getmetatable(L, PROC_MT);
    lua_setmetatable(L, -2);
    u->tree = lua_toboolean(L, 8);
    bt_err err;
    if (!(u->child = bt_wproc_start(&r, &err)))
        return push_fail(L, argv[0], &err);
    return 1;
}

/* core.shell_command(argv) -> the argv of `cmd.exe /d /s /c LINE`, whose `cmdline` field
 * hands cmd.exe LINE as it is written (its quoting is not the C runtime's) */
static int l_shell_command(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_rawgeti(L, 1, 1);
    const char *line = luaL_checkstring(L, -1);
    if (lua_rawlen(L, 1) > 1)
        return luaL_error(L, "baton.spawn: with shell = true on Windows the command is one line, "
                             "with no further arguments");
    const char *shell = getenv("COMSPEC");
    if (!shell || !*shell || strchr(shell, '"'))
        shell = "cmd.exe";
    static const char *const words[] = {"/d", "/s", "/c"};
    lua_createtable(L, 5, 1);
    lua_pushstring(L, shell);
    lua_rawseti(L, -2, 1);
    for (int i = 0; i < 3; i++) {
        lua_pushstring(L, words[i]);
        lua_rawseti(L, -2, i + 2);
    }
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, 5);
    lua_pushfstring(L, "\"%s\" /d /s /c \"%s\"", shell, line);
    lua_setfield(L, -2, "cmdline");
    return 1;
}

static int l_proc_pid(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)bt_wproc_pid(check_proc(L)->child));
    return 1;
}

/* p:poll() -> nil while running | code, signal (nil when it exited) | nil, message, code */
static int l_proc_poll(lua_State *L) {
    proc_ud *u = check_proc(L);
    unsigned long code;
    bt_wproc_sweep();
    int r = bt_wproc_wait(u->child, 0, &code);
    if (r == 0)
        return 0;
    if (r < 0)
        return bt_lua_push_error(L, "baton: cannot wait for a child process", errno, NULL);
    lua_pushinteger(L, (lua_Integer)code);
    if (u->killed && code == (unsigned long)(128 + u->killed))
        lua_pushinteger(L, u->killed);
    else
        lua_pushnil(L);
    return 2;
}

/* Process handles core.poll can wait on, under numbers of their own (WAIT_BASE + slot: no
 * C runtime descriptor is that high; the C runtime takes no process handle). */
#define WAIT_BASE 0x40000000
#define WAIT_SLOTS 4096
static HANDLE waitables[WAIT_SLOTS];
static SRWLOCK waitables_guard = SRWLOCK_INIT;

static int new_waitable(HANDLE h) {
    int id = -1;
    AcquireSRWLockExclusive(&waitables_guard);
    for (int i = 0; i < WAIT_SLOTS && id < 0; i++)
        if (!waitables[i]) {
            waitables[i] = h;
            id = WAIT_BASE + i;
        }
    ReleaseSRWLockExclusive(&waitables_guard);
    return id;
}

static HANDLE waitable(int id) {
    if (id < WAIT_BASE || id >= WAIT_BASE + WAIT_SLOTS)
        return NULL;
    AcquireSRWLockShared(&waitables_guard);
    HANDLE h = waitables[id - WAIT_BASE];
    ReleaseSRWLockShared(&waitables_guard);
    return h;
}

static void drop_waitable(int id) {
    AcquireSRWLockExclusive(&waitables_guard);
    waitables[id - WAIT_BASE] = NULL;
    ReleaseSRWLockExclusive(&waitables_guard);
}

/* p:pollfd() -> a number core.poll finds "readable" once the child has ended (it waits on
 * the process's handle), or nil when none is left (process.lua then looks again, backing
 * off). */
static int l_proc_pollfd(lua_State *L) {
    proc_ud *u = check_proc(L);
    if (u->waitfd < 0)
        u->waitfd = new_waitable(bt_wproc_handle(u->child));
    return bt_lua_push_fd(L, u->waitfd);
}

/* p:signal(number) -> true | nil, message, code: any signal but 0 ends the process (or its
 * job, for group = true) with exit code 128 + the number */
static int l_proc_signal(lua_State *L) {
    proc_ud *u = check_proc(L);
    int sig = (int)luaL_checkinteger(L, 2);
    unsigned long code;
    if (sig == 0) {
        if (bt_wproc_wait(u->child, 0, &code) == 1)
            return bt_lua_push_error(L, "baton: cannot signal the process", ESRCH, NULL);
        lua_pushboolean(L, 1);
        return 1;
    }
    if (bt_wproc_kill(u->child, u->tree, (unsigned)(128 + sig)) != 0)
        return bt_lua_push_error(L, "baton: cannot signal the process", errno, NULL);
    u->killed = sig;
    lua_pushboolean(L, 1);
    return 1;
}

static int l_proc_release(lua_State *L) {
    proc_ud *u = (proc_ud *)luaL_checkudata(L, 1, PROC_MT);
    if (u->waitfd >= 0)
        drop_waitable(u->waitfd);
    u->waitfd = -1;
    bt_wproc_free(u->child);
    u->child = NULL;
    return 0;
}

/* ---- poll, signals ---- */

/* What core.poll can tell of a number: a pipe (looked at with PeekNamedPipe), a process
 * (p:pollfd(): ready once it has ended), or anything else (a file: always ready). */
enum { IS_PIPE, IS_WAITABLE, IS_OTHER };

static int kind_of(int fd) {
    if (waitable(fd))
        return IS_WAITABLE;
    return GetFileType(handle_of(fd)) == FILE_TYPE_PIPE ? IS_PIPE : IS_OTHER;
}

/* Whether a descriptor to read from has something (or its end) to give. */
static int readable(int fd) {
    DWORD avail = 0;
    switch (kind_of(fd)) {
    case IS_PIPE:
        return !PeekNamedPipe(handle_of(fd), NULL, 0, NULL, &avail, NULL) || avail > 0;
    case IS_WAITABLE:
        return WaitForSingleObject(waitable(fd), 0) != WAIT_TIMEOUT;
    default:
        return 1;
    }
}

#define MAX_WAITABLES 64 /* MAXIMUM_WAIT_OBJECTS */

typedef struct {
    HANDLE waitable[MAX_WAITABLES];
    DWORD nwait;
    int looks; /* what is only looked at, between pauses: pipes to read from */
} poll_set;

/* Ready descriptors of the table at idx into the result table on top; their count. The
 * first time round, `set` gets what is to be waited on. */
static int mark_ready(lua_State *L, int idx, int reading, poll_set *set) {
    int n = 0;
    if (lua_isnoneornil(L, idx))
        return 0;
    size_t len = lua_rawlen(L, idx);
    for (size_t i = 1; i <= len; i++) {
        lua_rawgeti(L, idx, (int)i);
        int fd = (int)luaL_checkinteger(L, -1);
        lua_pop(L, 1);
        if (set && reading) {
            int k = kind_of(fd);
            if (k == IS_WAITABLE && set->nwait < MAX_WAITABLES)
                set->waitable[set->nwait++] = waitable(fd);
            else if (k != IS_OTHER) /* a pipe, or a process beyond what one wait takes */
                set->looks++;
        }
        if (!reading || readable(fd)) {
            lua_pushboolean(L, 1);
            lua_rawseti(L, -2, fd);
            n++;
        }
    }
    return n;
}

/* Pause up to `seconds` (negative: no limit), woken early by any of the waitables. */
static void pause_for(const poll_set *set, double seconds) {
    if (set->nwait == 0) {
        bt_sleep(seconds);
        return;
    }
    DWORD ms = seconds < 0 ? INFINITE : seconds > 4e6 ? 4000000000u : (DWORD)(seconds * 1000.0 + 0.999);
    HANDLE all[MAX_WAITABLES + 1];
    DWORD n = set->nwait;
    memcpy(all, set->waitable, n * sizeof *all);
    if (bt_win_interrupt_event()) /* a host's Ctrl-C ends the pause */
        all[n++] = bt_win_interrupt_event();
    WaitForMultipleObjects(n, all, FALSE, ms);
}

/* core.poll(read_fds, write_fds, seconds) -> { [fd] = true } | nil when the time ran out.
 * A process's p:pollfd() wakes it as the process ends; pipes to read are looked at between
 * pauses that back off; a pipe to write to counts as ready after the first pause (Windows
 * does not tell when a full pipe has room again). */
static int l_poll(lua_State *L) {
    if (!lua_isnoneornil(L, 1))
        luaL_checktype(L, 1, LUA_TTABLE);
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    lua_Number seconds = luaL_checknumber(L, 3);
    luaL_argcheck(L, seconds == seconds, 3, "seconds must not be NaN");
    bt_wproc_sweep(); /* children let go of that have ended since */
    double deadline = seconds < 0 ? -1 : bt_now() + seconds, pause = FIRST_PAUSE;
    int writers = !lua_isnoneornil(L, 2) && lua_rawlen(L, 2) > 0;
    poll_set set = {{0}, 0, 0};
    for (int round = 0;; round++) {
        lua_newtable(L);
        int n = mark_ready(L, 1, 1, round == 0 ? &set : NULL);
        if (round > 0 && writers)
            n += mark_ready(L, 2, 0, NULL);
        if (n > 0)
            return 1;
        lua_pop(L, 1);
        double left = deadline < 0 ? -1 : deadline - bt_now();
        if (deadline >= 0 && left <= 0)
            return 0;
        if (set.looks || writers || set.nwait == 0) /* something only a look tells: a pause */
            left = left >= 0 && left < pause ? left : pause;
        pause_for(&set, left);
        if (bt_win_interrupted())
            return 0; /* the host raises the interrupt next */
        pause = pause * 2 < LAST_PAUSE ? pause * 2 : LAST_PAUSE;
    }
}

/* What a child starts stays in its job: there is nothing to adopt. */
static int l_adopt_orphans(lua_State *L) {
    lua_pushboolean(L, 0);
    return 1;
}

static const luaL_Reg fd_methods[] = {
    {"read", l_fd_read},         {"write", l_fd_write}, {"nonblock", l_fd_nonblock},
    {"fileno", l_fd_fileno},     {"close", l_fd_close}, {NULL, NULL}};

static const luaL_Reg fd_meta[] = {
    {"__gc", l_fd_close},
#if LUA_VERSION_NUM >= 504
    {"__close", l_fd_close},
#endif
    {"__tostring", l_fd_tostring}, {NULL, NULL}};

static const luaL_Reg proc_methods[] = {
    {"pid", l_proc_pid},       {"poll", l_proc_poll},       {"pollfd", l_proc_pollfd},
    {"signal", l_proc_signal}, {"release", l_proc_release}, {NULL, NULL}};

static const luaL_Reg proc_meta[] = {{"__gc", l_proc_release}, {NULL, NULL}};

static const luaL_Reg functions[] = {
    {"pipe", l_pipe},
    {"open_stream", l_open_stream},
    {"spawn", l_spawn},
    {"shell_command", l_shell_command},
    {"poll", l_poll},
    {"adopt_orphans", l_adopt_orphans},
    {NULL, NULL}};

void bt_lua_process_open(lua_State *L) {
    bt_lua_new_class(L, FD_MT, fd_meta, fd_methods);
    bt_lua_new_class(L, PROC_MT, proc_meta, proc_methods);
    luaL_setfuncs(L, functions, 0);
    bt_lua_open_signals(L);
    lua_pushliteral(L, "NUL");
    lua_setfield(L, -2, "null_device");
}
