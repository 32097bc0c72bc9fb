/* baton.core's opening, its shared checks and results, and the flock handle's extras. Thin
 * on purpose: argument checks here; policy (options, waiting, errors for users) in
 * lua/baton/. */
#include <dirent.h>
#include <string.h>

#include "../core/clock.h"
#include "../core/errors.h"
#include "../core/flock_lock.h"
#include "../core/lock_path.h"
#include "binding.h"
#include "compat.h"
#include "process.h"

static bt_flock *new_flock(lua_State *L, const char *path, size_t len, int shared, mode_t mode,
                           int make_parents) {
    bt_handle *h = bt_lua_new_handle(L, &bt_flock_kind, path, len);
    bt_flock *l = (bt_flock *)bt_handle_state(h);
    bt_flock_init(l, shared, mode, make_parents);
    l->name = h->path;
    h->open = 1;
    return l;
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
    bt_handle *h = bt_lua_check_open(L);
    bt_flock *l = (bt_flock *)bt_handle_state(h);
    bt_err err;
    int rc = bt_flock_try(l, h->path, &err);
    if (rc == BT_BUSY) {
        const bt_flock *other = bt_flock_held_here(l);
        if (other) {
            lua_pushboolean(L, 0);
            push_here(L, other);
            lua_pushliteral(L, "EDEADLK");
            return 3;
        }
        rc = bt_flock_block(l, h->path, &err);
    }
    if (rc == BT_OK)
        bt_flock_record(l, NULL, 0);
    return bt_lua_push_attempt(L, rc, "lock file", h->path, &err);
}

/* The descriptor, for handing the lock to a child process on purpose; nil when none is open. */
static int l_flock_fileno(lua_State *L) {
    bt_handle *h = bt_lua_check_handle(L);
    return bt_lua_push_fd(L, h->open ? ((bt_flock *)bt_handle_state(h))->fd : -1);
}

/* h:here() after a busy attempt: when another lock object of this process holds the same
 * file in a conflicting mode, a phrase naming it for messages; else nil. */
static int l_flock_here(lua_State *L) {
    bt_handle *h = bt_lua_check_handle(L);
    return push_here(L, h->open ? bt_flock_held_here((bt_flock *)bt_handle_state(h)) : NULL);
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

static const luaL_Reg flock_extra[] = {
    {"block", l_flock_block}, {"fileno", l_flock_fileno}, {"here", l_flock_here}, {NULL, NULL}};

/* core.list_dir(path) -> the names in the folder at path (without "." and ".."), or nil when
 * it cannot be read: how the kind registry finds kind files without starting a program. */
static int l_list_dir(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    lua_newtable(L);
    lua_Integer n = 0;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        lua_pushstring(L, e->d_name);
        lua_rawseti(L, -2, ++n);
    }
    closedir(d);
    return 1;
}

static const luaL_Reg core_functions[] = {
    {"now", l_now}, {"sleep", l_sleep}, {"list_dir", l_list_dir}, {NULL, NULL}};

int luaopen_baton_core(lua_State *L) {
    bt_lua_new_handle_class(L, &bt_flock_kind, flock_extra);
    luaL_newlib(L, core_functions);
    lua_pushinteger(L, BT_MODE_EXACT);
    lua_setfield(L, -2, "MODE_EXACT");
    bt_lua_set_constructor(L, &bt_flock_kind, "flock", l_flock);
    bt_lua_set_constructor(L, &bt_flock_kind, "flock_plain", l_flock_plain);
    bt_lua_process_open(L);
    bt_lua_open_rw(L);
    bt_lua_open_sem(L);
    bt_lua_open_soft(L);
    bt_lua_open_soft_kinds(L);
    bt_lua_open_fdlock(L);
    bt_lua_open_holder(L);
    return 1;
}
