/* What the binding files (src/lua/) share: argument checks, results, the lock handle. */
#ifndef BT_LUA_BATON_H
#define BT_LUA_BATON_H

#include "compat.h"
#include <sys/types.h>

#include <stddef.h>

#include "../core/errors.h"
#include "../core/lock_kind.h"

/* The lock path at `idx`: a non-empty string without NUL bytes, or a Lua error. */
const char *bt_lua_check_path(lua_State *L, int idx);

/* Permission bits at `idx`: an integer from 0 to 07777, or a Lua error. */
mode_t bt_lua_check_mode(lua_State *L, int idx);

/* A process id argument: a whole number from 1 to 2^31-1, else raises. */
long bt_lua_check_pid(lua_State *L, int idx);

/* Pushes false, "baton: cannot <op> lock file '<path>': <reason>", "ERRNO"; returns 3. */
int bt_lua_push_failure(lua_State *L, const char *path, const bt_err *err);

/* What one attempt returns to Lua: true | false, nil, "busy" | false, "baton: cannot <op>
 * <what> '<path>': <reason>", "ERRNO". `rc` is BT_OK, BT_BUSY or BT_FAIL (with `err`). */
int bt_lua_push_attempt(lua_State *L, int rc, const char *what, const char *path,
                        const bt_err *err);

/* Pushes nil, "<what>: <detail or strerror(code)>", "ERRNO"; returns 3. */
int bt_lua_push_error(lua_State *L, const char *what, int code, const char *detail);

/* baton.spawn's lists (the command, the environment's changes): a NULL-terminated array of
 * the strings in the table at idx (kept alive by the table), in a userdata pushed on the
 * stack; NULL for nil. Anything but strings without NUL bytes raises, naming `what` N. */
const char **bt_lua_string_array(lua_State *L, int idx, const char *what, size_t *count);

/* nil, "baton: cannot WHAT 'PATH': strerror(code)", the code's name: 3 pushed. */
int bt_lua_push_path_error(lua_State *L, const char *what, const char *path, int code);

/* A descriptor, or nil for -1. */
int bt_lua_push_fd(lua_State *L, int fd);

/* A process pipe's descriptor as tostring shows it: "baton.fd(N)", "baton.fd(closed)" for -1. */
int bt_lua_push_fd_name(lua_State *L, int fd);

/* A metatable `name` with `meta` and an __index table of `methods`. */
void bt_lua_new_class(lua_State *L, const char *name, const luaL_Reg *meta,
                      const luaL_Reg *methods);

/* The lock handle (handle.c): one userdata layout and one set of methods for every kind,
 * driven by the kind's operations. The handle owns its path. */
/* The alignment Lua gives a userdata's memory (LUAI_MAXALIGN): enough for every state. */
typedef union bt_align {
    double d;
    void *p;
    long long ll;
} bt_align;

typedef struct bt_handle {
    const bt_kind *kind;
    int open;            /* 1 once the kind's state is set up, 0 again after __gc/__close */
    char *path;          /* the lock path, kept in the userdata after the state */
    bt_align state[];    /* the kind's state, kind->size bytes */
} bt_handle;

/* The kind's state in a handle. */
static inline void *bt_handle_state(bt_handle *h) { return h->state; }

/* Make the class of `kind` (once per Lua state): try, wait, held, release, pollfd and record
 * (where the kind has them), the `extra` methods, __gc, __close and __tostring. Methods get
 * the kind as their first upvalue. */
void bt_lua_new_handle_class(lua_State *L, const bt_kind *kind, const luaL_Reg *extra);

/* Set t[name] = fn, a constructor whose first upvalue is kind's class, in the table on top. */
void bt_lua_set_constructor(lua_State *L, const bt_kind *kind, const char *name,
                            lua_CFunction fn);

/* In a constructor: push a closed handle of `kind` for `path` (len bytes); the caller sets
 * up h->state and then sets h->open. */
bt_handle *bt_lua_new_handle(lua_State *L, const bt_kind *kind, const char *path, size_t len);

/* In a constructor: `state`, the kind's state just allocated for the handle of `path`, or
 * an error saying there was no memory for the `noun`'s when it is NULL. */
void *bt_lua_check_alloc(lua_State *L, void *state, const char *noun, const char *path);

/* In a method: the handle at 1 (of the method's kind), open or closed; or open only. */
bt_handle *bt_lua_check_handle(lua_State *L);
bt_handle *bt_lua_check_open(lua_State *L);

/* __gc and __close (and a kind's close method): the handle's end, once (as Lua's own file
 * handles). */
int bt_lua_end_handle(lua_State *L);

struct bt_marker;
struct bt_lock_holder;
/* A soft marker's owner as { pid =, host =, token = }. */
void bt_lua_push_marker(lua_State *L, const struct bt_marker *m);
/* A list of n flock holders, { { pid =, shared = }, ... }. */
void bt_lua_push_holders(lua_State *L, const struct bt_lock_holder *h, size_t n);
/* One holder of a record lock: { pid =, shared =, writes =, sqlite = }. */
void bt_lua_push_record_holder(lua_State *L, const struct bt_lock_holder *h);

/* What a soft marker says (core.marker's table, without the file's and process's users). */
struct bt_soft_info;
void bt_lua_push_soft_info(lua_State *L, const struct bt_soft_info *info);

/* core.platform's table: the system's name and what baton.holder can know there. */
void bt_lua_push_platform(lua_State *L);

/* Add rwlock (lua/rwlock.c), semaphore (lua/semaphore.c), the soft lock handle (lua/soft.c) and the
 * holder functions (lua/holder.c) to the module table on top of the stack. */
void bt_lua_open_rw(lua_State *L);
void bt_lua_open_sem(lua_State *L);
void bt_lua_open_soft(lua_State *L);
void bt_lua_open_soft_kinds(lua_State *L); /* strict soft locks, soft read/write locks */
void bt_lua_open_fdlock(lua_State *L); /* core.fd_lock (lua/fdlock.c) */
int bt_lua_exec_holding(lua_State *L); /* core.exec_holding (lua/exec_holding.c, *_windows.c) */
void bt_lua_open_holder(lua_State *L);

#endif
