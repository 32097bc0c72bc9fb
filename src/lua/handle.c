/* The one lock handle of baton.core: a userdata over a kind's operations (core/lock_kind.h).
 * Every kind's class is made here from its bt_kind, with the same methods, __gc, __close and
 * __tostring; a kind adds only its own few extra methods. */
#include <string.h>

#include "binding.h"

#define STATE_OFFSET offsetof(bt_handle, state)

/* The kind a method or metamethod was made for: its first upvalue. */
static const bt_kind *kind_of_call(lua_State *L) {
    return (const bt_kind *)lua_touserdata(L, lua_upvalueindex(1));
}

bt_handle *bt_lua_check_handle(lua_State *L) {
    return (bt_handle *)luaL_checkudata(L, 1, kind_of_call(L)->name);
}

bt_handle *bt_lua_check_open(lua_State *L) {
    bt_handle *h = bt_lua_check_handle(L);
    if (!h->open)
        luaL_error(L, "baton: %s '%s' is closed", h->kind->name, h->path);
    return h;
}

bt_handle *bt_lua_new_handle(lua_State *L, const bt_kind *kind, const char *path, size_t len) {
    bt_handle *h = (bt_handle *)lua_newuserdata(L, STATE_OFFSET + kind->size + len + 1);
    h->kind = kind;
    h->open = 0; /* closed until the kind's state is set up: __gc then has nothing to do */
    h->path = (char *)h + STATE_OFFSET + kind->size;
    memcpy(h->path, path, len);
    h->path[len] = '\0';
    lua_pushvalue(L, lua_upvalueindex(1)); /* the constructor's upvalue: the class */
    lua_setmetatable(L, -2);
    return h;
}

void *bt_lua_check_alloc(lua_State *L, void *state, const char *noun, const char *path) {
    if (!state)
        luaL_error(L, "baton: out of memory for %s '%s'", noun, path);
    return state;
}

/* h:try([write]) -> true | false, nil, "busy" | false, message, code */
static int l_try(lua_State *L) {
    bt_handle *h = bt_lua_check_open(L);
    bt_err err;
    const char *named = h->path;
    int rc = h->kind->try_(h->state, h->path, lua_toboolean(L, 2), &err, &named);
    return bt_lua_push_attempt(L, rc, h->kind->what, named, &err);
}

/* h:wait(seconds) -> true when woken by a sign of a release */
static int l_wait(lua_State *L) {
    bt_handle *h = bt_lua_check_open(L);
    lua_Number s = luaL_checknumber(L, 2);
    lua_pushboolean(L, h->kind->wait(h->state, h->path, s == s ? s : 0));
    return 1;
}

static int l_pollfd(lua_State *L) {
    bt_handle *h = bt_lua_check_open(L);
    return bt_lua_push_fd(L, h->kind->pollfd(h->state));
}

/* h:held() -> true | false, or the mode's name ("read", "write") for kinds with modes */
static int l_held(lua_State *L) {
    bt_handle *h = bt_lua_check_handle(L);
    int held = h->open ? h->kind->held(h->state) : 0;
    if (held && h->kind->held_names)
        lua_pushstring(L, h->kind->held_names[held]);
    else
        lua_pushboolean(L, held);
    return 1;
}

/* h:record([note]): publish the note and the time the lock was taken, for baton.holder. */
static int l_record(lua_State *L) {
    bt_handle *h = bt_lua_check_open(L);
    size_t len = 0;
    const char *note = luaL_optlstring(L, 2, NULL, &len);
    h->kind->record(h->state, note, len);
    return 0;
}

/* h:release(): the lock goes back; the handle stays usable. Idempotent. */
static int l_release(lua_State *L) {
    bt_handle *h = bt_lua_check_handle(L);
    if (h->open)
        h->kind->release(h->state, h->path);
    return 0;
}

int bt_lua_end_handle(lua_State *L) {
    bt_handle *h = bt_lua_check_handle(L);
    if (h->open) {
        h->open = 0;
        h->kind->end(h->state, h->path);
    }
    return 0;
}

static int l_tostring(lua_State *L) {
    bt_handle *h = bt_lua_check_handle(L);
    int held = h->open ? h->kind->held(h->state) : 0;
    const char *state = !h->open                ? "closed"
                        : h->kind->held_names ? h->kind->held_names[held]
                        : held                ? "held"
                                              : "free";
    lua_pushfstring(L, "%s('%s', %s)", h->kind->name, h->path, state);
    return 1;
}

/* Set t[name] = fn with the kind as upvalue, in the table on top. */
static void set_method(lua_State *L, const bt_kind *kind, const char *name, lua_CFunction fn) {
    lua_pushlightuserdata(L, (void *)kind);
    lua_pushcclosure(L, fn, 1);
    lua_setfield(L, -2, name);
}

void bt_lua_new_handle_class(lua_State *L, const bt_kind *kind, const luaL_Reg *extra) {
    if (!luaL_newmetatable(L, kind->name)) { /* made once per state */
        lua_pop(L, 1);
        return;
    }
    /* Every metamethod is in place before the first handle gets the metatable, so that
     * __gc is honoured. */
    set_method(L, kind, "__gc", bt_lua_end_handle);
#if LUA_VERSION_NUM >= 504
    set_method(L, kind, "__close", bt_lua_end_handle);
#endif
    set_method(L, kind, "__tostring", l_tostring);
    lua_newtable(L);
    set_method(L, kind, "try", l_try);
    set_method(L, kind, "wait", l_wait);
    set_method(L, kind, "held", l_held);
    set_method(L, kind, "release", l_release);
    if (kind->pollfd)
        set_method(L, kind, "pollfd", l_pollfd);
    if (kind->record)
        set_method(L, kind, "record", l_record);
    for (; extra && extra->name; extra++)
        set_method(L, kind, extra->name, extra->func);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

void bt_lua_set_constructor(lua_State *L, const bt_kind *kind, const char *name,
                            lua_CFunction fn) {
    luaL_getmetatable(L, kind->name);
    lua_pushcclosure(L, fn, 1);
    lua_setfield(L, -2, name);
}
