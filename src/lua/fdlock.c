#define _POSIX_C_SOURCE 200809L
/* baton.core.fd_lock: locks on a descriptor, flock(2) or OFD byte ranges (core/fd_lock.h),
 * through the generic handle; on Windows, LockFileEx on a descriptor's handle
 * (core/os/windows_fdlock.c). core.exec_holding is exec_holding.c's (exec_holding_windows.c's
 * there). */
#include <errno.h>
#include <stdio.h>

#include "../core/fd_lock.h"
#include "binding.h"
#include <lualib.h> /* LUA_FILEHANDLE on Lua 5.1 */

static bt_fdlock *check_fdlock(lua_State *L) {
    return (bt_fdlock *)bt_handle_state(bt_lua_check_open(L));
}

/* The FILE * of an io library file handle, NULL once it is closed. A Lua 5.2+ handle is a
 * luaL_Stream (closef NULL once closed); Lua 5.1's and LuaJIT's start with the FILE * (NULL
 * once closed). */
static FILE *stream_file(const void *handle) {
#if LUA_VERSION_NUM >= 502
    const luaL_Stream *s = (const luaL_Stream *)handle;
    return s->closef ? s->f : NULL;
#else
    return *(FILE *const *)handle;
#endif
}

static int stream_closed(const void *handle) { return stream_file(handle) == NULL; }

/* Keep the value at `idx` alive as long as the userdata on top of the stack. */
static void keep_with(lua_State *L, int idx) {
#if LUA_VERSION_NUM >= 503
    lua_pushvalue(L, idx);
    lua_setuservalue(L, -2);
#else
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, idx);
    lua_rawseti(L, -2, 1);
#if LUA_VERSION_NUM == 502
    lua_setuservalue(L, -2);
#else
    lua_setfenv(L, -2);
#endif
#endif
}

/* core.fd_lock(name, fd, fcntl, shared, start, length, mode, make_parents) -> handle, not yet
 * locked; fd: the caller's descriptor, or an io library file handle (which the handle keeps
 * open as long as it lives; nil: `name` is a path the handle opens itself); length 0: to the
 * end of the file. nil, message, "EBADF" when fd is not open. */
static int l_fd_lock(lua_State *L) {
    size_t len;
    const char *name = luaL_checklstring(L, 1, &len);
    const void *stream = lua_isuserdata(L, 2) ? luaL_checkudata(L, 2, LUA_FILEHANDLE) : NULL;
    if (stream && !stream_file(stream))
        return bt_lua_push_error(L, "baton", EBADF, "the file handle is closed");
    lua_Integer fd = stream ? fileno(stream_file(stream)) : luaL_optinteger(L, 2, -1);
    int api = lua_toboolean(L, 3) ? BT_FD_OFD : BT_FD_FLOCK;
    int shared = lua_toboolean(L, 4);
    lua_Integer start = luaL_optinteger(L, 5, 0);
    lua_Integer length = luaL_optinteger(L, 6, 0);
    mode_t mode = lua_isnoneornil(L, 7) ? 0666 : bt_lua_check_mode(L, 7);
    luaL_argcheck(L, fd >= -1 && fd <= 0x7fffffff, 2, "not a descriptor number");
    luaL_argcheck(L, start >= 0, 5, "the start must not be negative");
    luaL_argcheck(L, length >= 0, 6, "the length must not be negative");
    bt_handle *h = bt_lua_new_handle(L, &bt_fdlock_kind, name, len);
    bt_fdlock *l = (bt_fdlock *)bt_handle_state(h);
    bt_fdlock_init(l, (int)fd, api, shared, (long long)start, (long long)length, mode,
                   lua_toboolean(L, 8));
    bt_err err;
    if (fd >= 0 && bt_fdlock_borrow(l, stream ? stream_closed : NULL, stream, &err) != BT_OK)
        return bt_lua_push_error(L, "baton", err.code, NULL);
    if (stream)
        keep_with(L, 2);
    h->open = 1;
    return 1;
}

/* h:block() -> true | false, nil, "busy" (a signal) | false, message, code */
static int l_block(lua_State *L) {
    bt_handle *h = bt_lua_check_open(L);
    bt_err err;
    int rc = bt_fdlock_block((bt_fdlock *)bt_handle_state(h), h->path, &err);
    return bt_lua_push_attempt(L, rc, bt_fdlock_kind.what, h->path, &err);
}

static int l_handle_fileno(lua_State *L) { return bt_lua_push_fd(L, bt_fdlock_fileno(check_fdlock(L))); }

/* h:unlock() -> true | false, message, code: the lock goes, the descriptor stays open. */
static int l_unlock(lua_State *L) {
    bt_handle *h = bt_lua_check_open(L);
    bt_err err;
    int rc = bt_fdlock_unlock((bt_fdlock *)bt_handle_state(h), &err);
    return bt_lua_push_attempt(L, rc, bt_fdlock_kind.what, h->path, &err);
}

/* core.fileno(file) -> the descriptor of an io library file handle, or nil, "closed". */
static int l_fileno(lua_State *L) {
    FILE *f = stream_file(luaL_checkudata(L, 1, LUA_FILEHANDLE));
    if (f == NULL) {
        lua_pushnil(L);
        lua_pushliteral(L, "closed");
        return 2;
    }
    lua_pushinteger(L, fileno(f));
    return 1;
}

/* h:keep(): leave the lock on the descriptor's open file description when this handle ends
 * (flock(1)'s descriptor form: the lock outlives the process that took it). */
static int l_keep(lua_State *L) {
    bt_fdlock *l = check_fdlock(L);
    l->locked = 0;
    return 0;
}

static const luaL_Reg extra[] = {
    {"keep", l_keep},
    {"block", l_block}, {"fileno", l_handle_fileno}, {"unlock", l_unlock}, {NULL, NULL}};

void bt_lua_open_fdlock(lua_State *L) {
    bt_lua_new_handle_class(L, &bt_fdlock_kind, extra);
    bt_lua_set_constructor(L, &bt_fdlock_kind, "fd_lock", l_fd_lock);
    static const luaL_Reg fns[] = {
        {"fileno", l_fileno}, {"exec_holding", bt_lua_exec_holding}, {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
