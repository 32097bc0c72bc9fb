/* baton.core's process functions: thin wrappers over bt_fdio, bt_spawn and bt_signal.
 * Options, defaults and waiting policy live in lua/baton/process.lua. */
#include "process.h"
#include "binding.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../core/child_env.h"
#include "../core/errors.h"
#include "../core/child_io.h"
#include "../core/spawn.h"

#define FD_MT "baton.fd"
#define PROC_MT "baton.process"
#define READ_MAX 65536 /* a pipe's default capacity: one read takes what is there */

typedef struct {
    int fd; /* -1 once closed */
} fd_ud;

typedef struct {
    bt_child *child; /* NULL once released */
} proc_ud;

/* nil, "what: message", "ERRNO" */
#define push_error bt_lua_push_error

static int push_fail(lua_State *L, const char *fname, const char *subject, const bt_err *err) {
    lua_pushfstring(L, "%s: cannot %s '%s'", fname, err->op, subject);
    const char *what = lua_tostring(L, -1);
    int n = push_error(L, what, err->code, err->detail);
    lua_remove(L, -n - 1);
    return n;
}

/* ---- descriptors ---- */

static void new_fd(lua_State *L, int fd) {
    fd_ud *u = (fd_ud *)lua_newuserdata(L, sizeof *u);
    u->fd = fd;
    luaL_getmetatable(L, FD_MT);
    lua_setmetatable(L, -2);
}

static fd_ud *check_fd(lua_State *L, int idx) { return (fd_ud *)luaL_checkudata(L, idx, FD_MT); }

static int open_fd(lua_State *L, int idx) {
    fd_ud *u = check_fd(L, idx);
    if (u->fd < 0)
        luaL_error(L, "baton: the descriptor is closed");
    return u->fd;
}

/* core.pipe() -> reader, writer */
static int l_pipe(lua_State *L) {
    int fds[2];
    bt_err err;
    if (bt_pipe(fds, &err) != BT_OK)
        return push_error(L, "baton: cannot make a pipe", err.code, NULL);
    new_fd(L, fds[0]);
    new_fd(L, fds[1]);
    return 2;
}

/* core.open_stream(path, "r" | "w" | "a") -> fd */
static int l_open_stream(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    const char *how = luaL_checkstring(L, 2);
    int mode = how[0] == 'r' ? BT_OPEN_READ : how[0] == 'a' ? BT_OPEN_APPEND : BT_OPEN_WRITE;
    bt_err err;
    int fd = bt_open_stream(path, mode, &err);
    if (fd < 0)
        return push_fail(L, "baton.spawn", path, &err);
    new_fd(L, fd);
    return 1;
}

/* fd:read(max) -> data ("" at the end) | nil, message, code ("EAGAIN" when nothing yet) */
static int l_fd_read(lua_State *L) {
    int fd = open_fd(L, 1);
    lua_Integer max = luaL_optinteger(L, 2, READ_MAX);
    luaL_argcheck(L, max > 0, 2, "must be positive");
    char buf[READ_MAX];
    ssize_t n = bt_read(fd, buf, max < READ_MAX ? (size_t)max : READ_MAX);
    if (n < 0)
        return push_error(L, "baton: cannot read from a pipe", errno, NULL);
    lua_pushlstring(L, buf, (size_t)n);
    return 1;
}

/* fd:write(data [, from]) -> bytes written | nil, message, code */
static int l_fd_write(lua_State *L) {
    int fd = open_fd(L, 1);
    size_t len;
    const char *s = luaL_checklstring(L, 2, &len);
    lua_Integer from = luaL_optinteger(L, 3, 1);
    luaL_argcheck(L, from >= 1 && (size_t)from <= len + 1, 3, "out of range");
    ssize_t n = bt_write(fd, s + from - 1, len - (size_t)(from - 1));
    if (n < 0)
        return push_error(L, "baton: cannot write to a pipe", errno, NULL);
    lua_pushinteger(L, (lua_Integer)n);
    return 1;
}

static int l_fd_nonblock(lua_State *L) {
    if (bt_set_nonblock(open_fd(L, 1)) != 0)
        return push_error(L, "baton: cannot make a pipe non-blocking", errno, NULL);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_fd_fileno(lua_State *L) {
    fd_ud *u = check_fd(L, 1);
    if (u->fd < 0)
        lua_pushnil(L);
    else
        lua_pushinteger(L, u->fd);
    return 1;
}

/* Serves close, __gc and __close: idempotent. */
static int l_fd_close(lua_State *L) {
    fd_ud *u = check_fd(L, 1);
    bt_close(u->fd);
    u->fd = -1;
    return 0;
}

static int l_fd_tostring(lua_State *L) { return bt_lua_push_fd_name(L, check_fd(L, 1)->fd); }

/* ---- processes ---- */

static bt_child *check_proc(lua_State *L) {
    proc_ud *u = (proc_ud *)luaL_checkudata(L, 1, PROC_MT);
    if (!u->child)
        luaL_error(L, "baton: the process handle is released");
    return u->child;
}

/* A stdio argument: nil inherits, an fd object hands it over, "stdout" (stderr only). */
static int stdio_arg(lua_State *L, int idx, int which) {
    if (lua_isnoneornil(L, idx))
        return BT_INHERIT;
    if (which == 2 && lua_type(L, idx) == LUA_TSTRING && strcmp(lua_tostring(L, idx), "stdout") == 0)
        return BT_SAME_AS_STDOUT;
    return open_fd(L, idx);
}

/* core.spawn(argv, env_changes, cwd, stdin, stdout, stderr, keep, group, detach,
 *            die_with_parent) -> process */
static int l_spawn(lua_State *L) {
    size_t argc, nenv, nkeep = 0;
    const char **argv = bt_lua_string_array(L, 1, "argument", &argc);
    luaL_argcheck(L, argv && argc > 0, 1, "the command is empty");
    const char **changes = bt_lua_string_array(L, 2, "environment entry", &nenv);
    bt_spawn_req r;
    r.argv = (char *const *)argv;
    r.cwd = luaL_optstring(L, 3, NULL);
    for (int i = 0; i < 3; i++)
        r.stdio[i] = stdio_arg(L, 4 + i, i);
    int *keep = NULL;
    if (!lua_isnoneornil(L, 7)) {
        luaL_checktype(L, 7, LUA_TTABLE);
        nkeep = lua_rawlen(L, 7);
        keep = (int *)lua_newuserdata(L, (nkeep + 1) * sizeof *keep);
        for (size_t i = 0; i < nkeep; i++) {
            lua_rawgeti(L, 7, (int)i + 1);
            keep[i] = (int)luaL_checkinteger(L, -1);
            lua_pop(L, 1);
        }
    }
    r.keep = keep;
    r.nkeep = (int)nkeep;
    r.new_group = lua_toboolean(L, 8);
    r.detach = lua_toboolean(L, 9);
    /* true: the child; "tree": the child and all it starts */
    r.die_with_parent = lua_type(L, 10) == LUA_TSTRING ? BT_DIE_TREE
                        : lua_toboolean(L, 10)        ? BT_DIE_CHILD
                                                      : 0;
    char **env = NULL;
    if (changes && !(env = bt_env_build(changes, nenv)))
        return push_error(L, "baton.spawn: cannot build the environment", ENOMEM, NULL);
    r.envp = env;
    proc_ud *u = (proc_ud *)lua_newuserdata(L, sizeof *u);
    u->child = NULL;
    luaL_getmetatable(L, PROC_MT);
    lua_setmetatable(L, -2);
    bt_err err;
    u->child = bt_spawn(&r, &err);
    free(env);
    if (!u->child)
        return push_fail(L, "baton.spawn", argv[0], &err);
    return 1;
}

static int l_proc_pid(lua_State *L) {
    lua_pushinteger(L, bt_child_pid(check_proc(L)));
    return 1;
}

/* p:poll() -> nil while running | code, signal (nil when it exited) | nil, message, code */
static int l_proc_poll(lua_State *L) {
    int code, signo;
    switch (bt_child_poll(check_proc(L), &code, &signo)) {
    case 0:
        return 0;
    case 1:
        lua_pushinteger(L, code);
        if (signo)
            lua_pushinteger(L, signo);
        else
            lua_pushnil(L);
        return 2;
    default:
        return push_error(L, "baton: cannot wait for a child process", errno, NULL);
    }
}

static int l_proc_pollfd(lua_State *L) {
    return bt_lua_push_fd(L, bt_child_pollfd(check_proc(L)));
}

/* p:signal(number) -> true | nil, message, code */
static int l_proc_signal(lua_State *L) {
    bt_child *c = check_proc(L);
    int sig = (int)luaL_checkinteger(L, 2);
    if (bt_child_signal(c, sig) != 0)
        return push_error(L, "baton: cannot signal the process", errno, NULL);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_proc_release(lua_State *L) {
    proc_ud *u = (proc_ud *)luaL_checkudata(L, 1, PROC_MT);
    if (u->child)
        bt_child_release(u->child);
    u->child = NULL;
    return 0;
}

/* ---- poll, signals, lock holders ---- */

/* Append the descriptors in the table at idx to fds with the given events. */
static nfds_t add_fds(lua_State *L, int idx, struct pollfd *fds, nfds_t n, short events) {
    if (lua_isnoneornil(L, idx))
        return n;
    size_t len = lua_rawlen(L, idx);
    for (size_t i = 1; i <= len; i++) {
        lua_rawgeti(L, idx, (int)i);
        fds[n].fd = (int)luaL_checkinteger(L, -1);
        fds[n].events = events;
        fds[n].revents = 0;
        n++;
        lua_pop(L, 1);
    }
    return n;
}

/* core.poll(read_fds, write_fds, seconds) -> { [fd] = true } for the ready ones, or nil when
 * the time ran out or a signal came first. A negative time waits without limit. */
static int l_poll(lua_State *L) {
    if (!lua_isnoneornil(L, 1))
        luaL_checktype(L, 1, LUA_TTABLE);
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    lua_Number seconds = luaL_checknumber(L, 3);
    luaL_argcheck(L, seconds == seconds, 3, "seconds must not be NaN");
    size_t total = (lua_isnoneornil(L, 1) ? 0 : lua_rawlen(L, 1)) +
                   (lua_isnoneornil(L, 2) ? 0 : lua_rawlen(L, 2));
    struct pollfd *fds = (struct pollfd *)lua_newuserdata(L, (total + 1) * sizeof *fds);
    nfds_t n = add_fds(L, 1, fds, 0, POLLIN);
    n = add_fds(L, 2, fds, n, POLLOUT);
    int r = bt_poll(fds, n, seconds);
    if (r <= 0)
        return 0;
    lua_newtable(L);
    for (nfds_t i = 0; i < n; i++) {
        if (fds[i].revents) {
            lua_pushboolean(L, 1);
            lua_rawseti(L, -2, fds[i].fd);
        }
    }
    return 1;
}

/* core.adopt_orphans() -> true | false: become a child subreaper (bt_children_adopt) */
static int l_adopt_orphans(lua_State *L) {
    lua_pushboolean(L, bt_children_adopt() == 0);
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
    {"poll", l_poll},
    {"adopt_orphans", l_adopt_orphans},
    {NULL, NULL}};

void bt_lua_process_open(lua_State *L) {
    bt_lua_new_class(L, FD_MT, fd_meta, fd_methods);
    bt_lua_new_class(L, PROC_MT, proc_meta, proc_methods);
    luaL_setfuncs(L, functions, 0);
    bt_lua_open_signals(L);
}
