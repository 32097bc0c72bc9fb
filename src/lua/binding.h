/* What the binding files (src/lua_*.c) share: argument checks, error results, classes. */
#ifndef BT_LUA_BATON_H
#define BT_LUA_BATON_H

#include "compat.h"
#include <sys/types.h>

#include "../core/errors.h"

/* The lock path at `idx`: a non-empty string without NUL bytes, or a Lua error. */
const char *bt_lua_check_path(lua_State *L, int idx);

/* Permission bits at `idx`: an integer from 0 to 07777, or a Lua error. */
mode_t bt_lua_check_mode(lua_State *L, int idx);

/* Pushes false, "baton: cannot <op> lock file '<path>': <reason>", "ERRNO"; returns 3. */
int bt_lua_push_failure(lua_State *L, const char *path, const bt_err *err);

/* What one attempt returns to Lua: true | false, nil, "busy" | false, "baton: cannot <op>
 * <what> '<path>': <reason>", "ERRNO". `rc` is BT_OK, BT_BUSY or BT_FAIL (with `err`). */
int bt_lua_push_attempt(lua_State *L, int rc, const char *what, const char *path,
                        const bt_err *err);

/* A descriptor, or nil for -1. */
int bt_lua_push_fd(lua_State *L, int fd);

/* A metatable `name` with `meta` and an __index table of `methods`. */
void bt_lua_new_class(lua_State *L, const char *name, const luaL_Reg *meta,
                      const luaL_Reg *methods);

struct bt_marker;
struct bt_lock_holder;
/* A soft marker's owner as { pid =, host =, token = }. */
void bt_lua_push_marker(lua_State *L, const struct bt_marker *m);
/* A list of n flock holders, { { pid =, shared = }, ... }. */
void bt_lua_push_holders(lua_State *L, const struct bt_lock_holder *h, size_t n);
/* One holder of a record lock: { pid =, shared =, writes =, sqlite = }. */
void bt_lua_push_record_holder(lua_State *L, const struct bt_lock_holder *h);

/* Add rwlock (lua_rw.c), semaphore (lua_sem.c), the soft lock handle (lua_soft.c) and the
 * holder functions (lua_holder.c) to the module table on top of the stack. */
void bt_lua_open_rw(lua_State *L);
void bt_lua_open_sem(lua_State *L);
void bt_lua_open_soft(lua_State *L);
void bt_lua_open_holder(lua_State *L);

#endif
