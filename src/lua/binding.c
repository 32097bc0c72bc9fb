/* What every binding file shares (declared in binding.h): the path and permission checks,
 * the results of an attempt, descriptors, and the set-up of a class. */
#include <math.h>
#include <string.h>

#include "../core/lock_path.h"
#include "../core/os/os.h"
#include "../core/soft_lock.h"
#include "binding.h"

const char *bt_lua_check_path(lua_State *L, int idx) {
    size_t len;
    const char *path = luaL_checklstring(L, idx, &len);
    if (len == 0)
        luaL_error(L, "baton: the lock path is empty");
    if (strlen(path) != len)
        luaL_error(L, "baton: the lock path '%s' contains a NUL byte", path);
    return path;
}

long bt_lua_check_pid(lua_State *L, int idx) {
    lua_Number n = luaL_checknumber(L, idx);
    luaL_argcheck(L, n >= 1 && n <= 2147483647.0 && n == (lua_Number)(long)n, idx,
                  "a pid must be a whole number from 1 to 2^31-1");
    return (long)n;
}

mode_t bt_lua_check_mode(lua_State *L, int idx) {
    lua_Number mode = luaL_checknumber(L, idx);
    /* lua/baton/options.lua checks and explains; this only keeps the core's contract */
    luaL_argcheck(L, mode >= 0 && mode <= (07777 | BT_MODE_EXACT) && mode == floor(mode), idx,
                  "0 to 07777 | MODE_EXACT");
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

int bt_lua_push_fd_name(lua_State *L, int fd) {
    if (fd < 0)
        lua_pushliteral(L, "baton.fd(closed)");
    else
        lua_pushfstring(L, "baton.fd(%d)", fd);
    return 1;
}

void bt_lua_new_class(lua_State *L, const char *name, const luaL_Reg *meta,
                      const luaL_Reg *methods) {
    luaL_newmetatable(L, name);
    luaL_setfuncs(L, meta, 0);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

int bt_lua_push_path_error(lua_State *L, const char *what, const char *path, int code) {
    char buf[16];
    lua_pushnil(L);
    lua_pushfstring(L, "baton: cannot %s '%s': %s", what, path, strerror(code));
    lua_pushstring(L, bt_errno_name(code, buf));
    return 3;
}

int bt_lua_push_error(lua_State *L, const char *what, int code, const char *detail) {
    char buf[16];
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", what, detail ? detail : strerror(code));
    lua_pushstring(L, bt_errno_name(code, buf));
    return 3;
}

/* A NULL-terminated array of the strings in the table at idx; NULL for nil. */
const char **bt_lua_string_array(lua_State *L, int idx, const char *what, size_t *count) {
    *count = 0;
    if (lua_isnoneornil(L, idx))
        return NULL;
    luaL_checktype(L, idx, LUA_TTABLE);
    size_t n = lua_rawlen(L, idx);
    const char **a = (const char **)lua_newuserdata(L, (n + 1) * sizeof *a);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, idx, (int)i + 1);
        a[i] = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        if (!a[i] || strlen(a[i]) != lua_rawlen(L, -1))
            luaL_error(L, "baton.spawn: %s %d is not a string without NUL bytes", what, (int)i + 1);
        lua_pop(L, 1); /* the table keeps the string alive */
    }
    a[n] = NULL;
    *count = n;
    return a;
}

/* A soft marker's owner, and holders as a lock table lists them (holder.c and the Windows
 * binding push them alike). */
void bt_lua_push_marker(lua_State *L, const bt_marker *m) {
    lua_newtable(L);
    lua_pushinteger(L, (lua_Integer)m->pid);
    lua_setfield(L, -2, "pid");
    lua_pushlstring(L, m->host, m->host_len < BT_HOST_LEN ? m->host_len : BT_HOST_LEN - 1);
    lua_setfield(L, -2, "host");
    if (m->token[0]) {
        lua_pushstring(L, m->token);
        lua_setfield(L, -2, "token");
    }
    if (m->mode == BT_MARKER_LEASE) {
        lua_pushnumber(L, m->duration);
        lua_setfield(L, -2, "lease");
    }
}

void bt_lua_push_holders(lua_State *L, const bt_lock_holder *h, size_t n) {
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_createtable(L, 0, 2);
        if (h[i].pid > 0) {
            lua_pushinteger(L, (lua_Integer)h[i].pid);
            lua_setfield(L, -2, "pid");
        }
        lua_pushboolean(L, h[i].shared);
        lua_setfield(L, -2, "shared");
        lua_rawseti(L, -2, (int)i + 1);
    }
}

void bt_lua_push_soft_info(lua_State *L, const bt_soft_info *info) {
    if (info->named)
        bt_lua_push_marker(L, &info->m);
    else
        lua_newtable(L);
    static const char *const keys[] = {"named", "this_host", "stale", "believed", "foreign", "strict"};
    const int values[] = {info->named, info->this_host, info->stale, info->believed,
                          info->foreign, info->strict};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        lua_pushboolean(L, values[i]);
        lua_setfield(L, -2, keys[i]);
    }
    if (info->alive >= 0) {
        lua_pushboolean(L, info->alive);
        lua_setfield(L, -2, "alive");
    }
    lua_pushnumber(L, info->mtime);
    lua_setfield(L, -2, "mtime");
    lua_pushinteger(L, (lua_Integer)info->size);
    lua_setfield(L, -2, "size");
}
