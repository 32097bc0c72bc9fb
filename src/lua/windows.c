/* baton.core's parts on Windows (make PLATFORM=windows) beside module.c's: plain soft locks
 * (core/os/windows_soft.c), and those not built for Windows yet (child processes are
 * process_windows.c's): soft leases, strict soft locks and soft read/write locks, locks on
 * open descriptors and the holder lookup. Each of their functions is there, and
 * raises an error that names the feature, so that a program learns at once what it cannot
 * use. */
#include <string.h>

#include "../core/os/os.h"
#include "../core/soft_lock.h"
#include "binding.h"
#include "compat.h"

/* The function's upvalue is the feature's name, as users call it. */
static int l_unavailable(lua_State *L) {
    return luaL_error(L, "%s is not available on Windows yet",
                      lua_tostring(L, lua_upvalueindex(1)));
}

typedef struct missing {
    const char *field;   /* its name in baton.core */
    const char *feature; /* what a user called */
} missing;

/* Set each field of the table on top to a function that raises for its feature. */
static void set_missing(lua_State *L, const missing *m) {
    for (; m->field; m++) {
        lua_pushstring(L, m->feature);
        lua_pushcclosure(L, l_unavailable, 1);
        lua_setfield(L, -2, m->field);
    }
}

/* core.soft(path, mode, make_parents, stale_after [, lease, heartbeat]) -> handle, not yet
 * locked; as soft.c's, but a lease is refused. */
static int l_soft(lua_State *L) {
    const char *path = bt_lua_check_path(L, 1);
    mode_t mode = bt_lua_check_mode(L, 2);
    int make_parents = lua_toboolean(L, 3);
    lua_Number stale_after = luaL_optnumber(L, 4, -1);
    luaL_argcheck(L, stale_after == stale_after, 4, "stale_after must not be NaN");
    if (luaL_optnumber(L, 5, 0) > 0)
        return luaL_error(L, "baton.soft_lock's leases (option 'lease') are not available on "
                             "Windows yet");
    bt_handle *h = bt_lua_new_handle(L, &bt_soft_kind, path, strlen(path));
    bt_soft_init((bt_soft *)bt_handle_state(h), mode, make_parents, (double)stale_after);
    h->open = 1;
    return 1;
}

void bt_lua_open_soft(lua_State *L) {
    bt_lua_new_handle_class(L, &bt_soft_kind, NULL);
    bt_lua_set_constructor(L, &bt_soft_kind, "soft", l_soft);
    static const missing m[] = {{"soft_strict", "strict soft locks (baton.soft_lock's strict)"},
                                {"soft_rw", "soft read/write locks (baton.rwlock's soft)"},
                                {"soft_rw_markers", "soft read/write locks (baton.rwlock's soft)"},
                                {"strict_claims", "baton.soft_lock"},
                                {"soft_break", "baton.break_lock"},
                                {"strict_break", "baton.break_lock"},
                                {NULL, NULL}};
    set_missing(L, m);
}

void bt_lua_open_fdlock(lua_State *L) {
    static const missing m[] = {{"fd_lock", "baton.lock_file"},
                                {"fileno", "baton.lock_file"},
                                {"exec_holding", "baton.lock_file"},
                                {NULL, NULL}};
    set_missing(L, m);
}

void bt_lua_open_holder(lua_State *L) {
    static const missing m[] = {{"hostname", "baton.holder"}, {"token", "baton.holder"},
                                {"marker", "baton.holder"},   {"process", "baton.holder"},
                                {"record", "baton.holder"},   {"openers", "baton.holder"},
                                {"lock_holders", "baton.holder"}, {"lstat", "baton.holder"},
                                {NULL, NULL}};
    set_missing(L, m);
    lua_createtable(L, 0, 5);
    lua_pushstring(L, bt_os_name());
    lua_setfield(L, -2, "name");
    static const char *const facts[] = {"lock_table", "openers", "cmdline", "started", NULL};
    for (int i = 0; facts[i]; i++) {
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, facts[i]);
    }
    lua_setfield(L, -2, "platform");
}
