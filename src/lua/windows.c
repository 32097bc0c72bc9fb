/* baton.core's parts on Windows (make PLATFORM=windows) beside module.c's, soft.c's,
 * soft_kinds.c's and windows_holder.c's: those not built for Windows yet, child processes and
 * signals (process.c), read/write locks, semaphores and locks on open descriptors. Each of
 * their functions is there, and raises an error that names the feature, so that a program
 * learns at once what it cannot use. */
#include <string.h>

#include "../core/os/os.h"
#include "../core/soft_lock.h"
#include "binding.h"
#include "compat.h"
#include "process.h"

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

/* Nothing is caught on Windows yet: a wait is never interrupted by a signal. */
static int l_interrupted(lua_State *L) {
    lua_pushboolean(L, 0);
    return 1;
}

void bt_lua_process_open(lua_State *L) {
    static const missing m[] = {{"pipe", "baton.spawn"},
                                {"open_stream", "baton.spawn"},
                                {"spawn", "baton.spawn"},
                                {"poll", "baton.spawn"},
                                {"adopt_orphans", "baton.jobs"},
                                {"signal_number", "baton.spawn"},
                                {"signal_name", "baton.spawn"},
                                {NULL, NULL}};
    set_missing(L, m);
    lua_pushcfunction(L, l_interrupted);
    lua_setfield(L, -2, "interrupted");
}

void bt_lua_open_rw(lua_State *L) {
    static const missing m[] = {{"rwlock", "baton.rwlock"}, {NULL, NULL}};
    set_missing(L, m);
}

void bt_lua_open_sem(lua_State *L) {
    static const missing m[] = {{"semaphore", "baton.semaphore"}, {NULL, NULL}};
    set_missing(L, m);
    lua_pushinteger(L, 0);
    lua_setfield(L, -2, "SEM_MAX");
}

void bt_lua_open_fdlock(lua_State *L) {
    static const missing m[] = {{"fd_lock", "baton.lock_file"},
                                {"fileno", "baton.lock_file"},
                                {"exec_holding", "baton.lock_file"},
                                {NULL, NULL}};
    set_missing(L, m);
}
