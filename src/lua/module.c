/* baton.core: the Lua face of the C core. Thin on purpose: argument checks, userdata and
 * metatables here; policy (options, waiting, errors for users) in lua/baton/. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../core/clock.h"
#include "../core/errors.h"
#include "../core/flock_lock.h"
#include "../core/lock_path.h"
#include "binding.h"
#include "compat.h"
#include "process.h"

#define FLOCK_MT "baton.flock"

typedef struct {
    bt_flock lock;
    char path[1]; /* the lock file's path, allocated to its full length */
} flock_ud;

const char *bt_lua_check_path(lua_State *L, int idx) {
    size_t len;
    const char *path = luaL_checklstring(L, idx, &len);
    if (len == 0)
        luaL_error(L, "baton: the lock path is empty");
    if (strlen(path) != len)
        luaL_error(L, "baton: the lock path '%s' contains a NUL byte", path);
    return path;
}

mode_t bt_lua_check_mode(lua_State *L, int idx) {
    lua_Number mode = luaL_checknumber(L, idx);
    luaL_argcheck(L, mode >= 0 && mode <= (07777 | BT_MODE_EXACT) && mode == floor(mode), idx,
                  "permission bits must be an integer from 0 to 07777 (or'ed with MODE_EXACT)");
    return (mode_t)mode;
}

static int push_failure_of(lua_State *L, const char *what, const char *path, const bt_err *err) {
    char buf[16];
    lua_pushboolean(L, 0);
    if (strcmp(err->op, "lock") == 0) /* not "cannot lock lock file" */
        what = "";
    lua_pushfstring(L, "baton: cannot %s %s%s'%s': %s", err->op, what, *what ? " " : "", path,
                    err->detail ? err->detail : strerror(err->code));
    lua_pushstring(L, bt_errno_name(err->code, buf));
    return 3;
}

int bt_lua_push_failure(lua_State *L, const char *path, const bt_err *err) {
    return push_failure_of(L, "lock file", path, err);
}

int bt_lua_push_attempt(lua_State *L, int rc, const char *what, const char *path,
                        const bt_err *err) {
    switch (rc) {
    case BT_OK:
        lua_pushboolean(L, 1);
        return 1;
    case BT_BUSY:
        lua_pushboolean(L, 0);
        lua_pushnil(L);
        lua_pushliteral(L, "busy");
        return 3;
    default:
        return push_failure_of(L, what, path, err);
    }
}

int bt_lua_push_fd(lua_State *L, int fd) {
    if (fd < 0)
        lua_pushnil(L);
    else
        lua_pushinteger(L, fd);
    return 1;
}

static flock_ud *check_flock(lua_State *L) { return (flock_ud *)luaL_checkudata(L, 1, FLOCK_MT); }

static void new_flock(lua_State *L, const char *path, size_t len, int shared, mode_t mode,
                      int make_parents) {
    flock_ud *u = (flock_ud *)lua_newuserdata(L, sizeof(flock_ud) + len);
    bt_flock_init(&u->lock, shared, mode, make_parents);
    memcpy(u->path, path, len + 1);
    u->lock.name = u->path;
    lua_pushvalue(L, lua_upvalueindex(1)); /* the metatable */
    lua_setmetatable(L, -2);
}

/* core.flock(path, shared, mode, make_parents) -> handle, not yet locked */
static int l_flock(lua_State *L) {
    const char *path = bt_lua_check_path(L, 1);
    int shared = lua_toboolean(L, 2);
    mode_t mode = bt_lua_check_mode(L, 3);
    new_flock(L, path, strlen(path), shared, mode, lua_toboolean(L, 4));
    return 1;
}

/* core.flock_plain(path) -> a handle for an exclusive lock with the default options (mode
 * 0666 before the umask, parent folders made), or nil when `path` is anything but a
 * non-empty string without NUL bytes that does not start with 'e' (as in etcd://): the
 * caller then takes its general way, which checks and explains. Raises nothing. */
static int l_flock_plain(lua_State *L) {
    size_t len;
    const char *path = lua_type(L, 1) == LUA_TSTRING ? lua_tolstring(L, 1, &len) : NULL;
    if (!path || len == 0 || path[0] == 'e' || strlen(path) != len) {
        lua_pushnil(L);
        return 1;
    }
    new_flock(L, path, len, 0, 0666, 1);
    return 1;
}

/* h:try() -> true | false, message, code ("busy" or an errno name) */
static int l_flock_try(lua_State *L) {
    flock_ud *u = check_flock(L);
    bt_err err;
    return bt_lua_push_attempt(L, bt_flock_try(&u->lock, u->path, &err), "lock file", u->path,
                               &err);
}

static int push_here(lua_State *L, const bt_flock *other) {
    if (!other)
        lua_pushnil(L);
    else if (other->name)
        lua_pushfstring(L, "this process, through another lock object ('%s')", other->name);
    else
        lua_pushliteral(L, "this process, through another lock object");
    return 1;
}

/* h:block() -> true | false, message, code: the whole take for a caller that can only
 * block. One attempt; when busy because another lock object of this process holds the
 * file, false, a phrase naming it, "EDEADLK" (the wait could never end); else a wait in
 * the kernel's queue ("busy" when a signal ended it: call again). Publishes the holder
 * record (no note) once held. */
static int l_flock_block(lua_State *L) {
    flock_ud *u = check_flock(L);
    bt_err err;
    int rc = bt_flock_try(&u->lock, u->path, &err);
    if (rc == BT_BUSY) {
        const bt_flock *other = bt_flock_held_here(&u->lock);
        if (other) {
            lua_pushboolean(L, 0);
            push_here(L, other);
            lua_pushliteral(L, "EDEADLK");
            return 3;
        }
        rc = bt_flock_block(&u->lock, u->path, &err);
    }
    if (rc == BT_OK)
        bt_flock_record(&u->lock, NULL, 0);
    return bt_lua_push_attempt(L, rc, "lock file", u->path, &err);
}

/* h:wait(seconds) -> true when woken by a change to the lock file */
static int l_flock_wait(lua_State *L) {
    flock_ud *u = check_flock(L);
    lua_Number s = luaL_checknumber(L, 2);
    lua_pushboolean(L, bt_flock_wait(&u->lock, u->path, s));
    return 1;
}

static int l_flock_pollfd(lua_State *L) {
    return bt_lua_push_fd(L, bt_flock_pollfd(&check_flock(L)->lock));
}

/* The descriptor, for handing the lock to a child process on purpose; nil when none is open. */
static int l_flock_fileno(lua_State *L) { return bt_lua_push_fd(L, check_flock(L)->lock.fd); }

/* h:here() after a busy attempt: when another lock object of this process holds the same
 * file in a conflicting mode, a phrase naming it for messages; else nil. */
static int l_flock_here(lua_State *L) {
    return push_here(L, bt_flock_held_here(&check_flock(L)->lock));
}

static int l_flock_held(lua_State *L) {
    lua_pushboolean(L, bt_flock_held(&check_flock(L)->lock));
    return 1;
}

/* h:record([note]): publish the note and the time the lock was taken, for baton.holder. */
static int l_flock_record(lua_State *L) {
    flock_ud *u = check_flock(L);
    size_t len = 0;
    const char *note = luaL_optlstring(L, 2, NULL, &len);
    bt_flock_record(&u->lock, note, len);
    return 0;
}

/* Serves release, __gc and __close alike: idempotent. */
static int l_flock_release(lua_State *L) {
    bt_flock_release(&check_flock(L)->lock);
    return 0;
}

static int l_flock_tostring(lua_State *L) {
    flock_ud *u = check_flock(L);
    lua_pushfstring(L, "baton.flock('%s', %s)", u->path, bt_flock_held(&u->lock) ? "held" : "free");
    return 1;
}

static int l_now(lua_State *L) {
    lua_pushnumber(L, bt_now());
    return 1;
}

static int l_sleep(lua_State *L) {
    lua_Number s = luaL_checknumber(L, 1);
    luaL_argcheck(L, s == s, 1, "seconds must not be NaN");
    bt_sleep(s);
    return 0;
}

static const luaL_Reg flock_methods[] = {
    {"try", l_flock_try},       {"block", l_flock_block},   {"wait", l_flock_wait},
    {"pollfd", l_flock_pollfd}, {"held", l_flock_held},     {"release", l_flock_release},
    {"fileno", l_flock_fileno}, {"record", l_flock_record}, {"here", l_flock_here},
    {NULL, NULL}};

static const luaL_Reg flock_meta[] = {{"__gc", l_flock_release},
#if LUA_VERSION_NUM >= 504
                                      {"__close", l_flock_release},
#endif
                                      {"__tostring", l_flock_tostring},
                                      {NULL, NULL}};

static const luaL_Reg core_functions[] = {{"now", l_now}, {"sleep", l_sleep}, {NULL, NULL}};

void bt_lua_new_class(lua_State *L, const char *name, const luaL_Reg *meta,
                      const luaL_Reg *methods) {
    luaL_newmetatable(L, name);
    luaL_setfuncs(L, meta, 0);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

int luaopen_baton_core(lua_State *L) {
    bt_lua_new_class(L, FLOCK_MT, flock_meta, flock_methods);
    luaL_newlib(L, core_functions);
    lua_pushinteger(L, BT_MODE_EXACT);
    lua_setfield(L, -2, "MODE_EXACT");
    luaL_getmetatable(L, FLOCK_MT);
    lua_pushcclosure(L, l_flock, 1);
    lua_setfield(L, -2, "flock");
    luaL_getmetatable(L, FLOCK_MT);
    lua_pushcclosure(L, l_flock_plain, 1);
    lua_setfield(L, -2, "flock_plain");
    bt_lua_process_open(L);
    bt_lua_open_rw(L);
    bt_lua_open_sem(L);
    bt_lua_open_soft(L);
    bt_lua_open_holder(L);
    return 1;
}
