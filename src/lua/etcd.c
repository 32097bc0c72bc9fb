/* baton.etcd_core: the Lua face of etcd locks. Thin like baton.core: argument checks and
 * userdata here, options and callbacks in lua/baton/kind/etcd.lua. Built only where libcurl
 * and jansson are available, so that baton.core never depends on them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/errors.h"
#include "binding.h"
#include "../etcd/bt_etcd.h"

#define ETCD_MT "baton.etcd"

typedef struct {
    bt_etcd_lock lock;
    char path[1]; /* allocated to its full length */
} etcd_ud;

static etcd_ud *check_etcd(lua_State *L) { return (etcd_ud *)luaL_checkudata(L, 1, ETCD_MT); }

static const char *conf_string(lua_State *L, int t, const char *name) {
    lua_getfield(L, t, name);
    const char *v = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
    lua_pop(L, 1); /* the string stays referenced by the table */
    return v;
}

/* The connection settings from the table at index `t` (or none when it is nil). */
static const bt_etcd_conf *read_conf(lua_State *L, int t, bt_etcd_conf *c) {
    memset(c, 0, sizeof *c);
    if (lua_isnoneornil(L, t))
        return NULL;
    luaL_checktype(L, t, LUA_TTABLE);
    c->cacert = conf_string(L, t, "cacert");
    c->cert = conf_string(L, t, "cert");
    c->key = conf_string(L, t, "key");
    c->user = conf_string(L, t, "user");
    c->password = conf_string(L, t, "password");
    lua_getfield(L, t, "insecure");
    c->insecure = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return c;
}

/* core.open(path, ttl, shared, note, conf) -> handle | nil, why */
static int l_open(lua_State *L) {
    size_t len;
    const char *path = luaL_checklstring(L, 1, &len);
    lua_Number ttl = luaL_checknumber(L, 2);
    int shared = lua_toboolean(L, 3);
    const char *note = luaL_optstring(L, 4, NULL);
    bt_etcd_conf conf;
    const bt_etcd_conf *c = read_conf(L, 5, &conf);
    char why[256];
    etcd_ud *u = (etcd_ud *)lua_newuserdata(L, sizeof(etcd_ud) + len);
    memcpy(u->path, path, len + 1);
    int rc = bt_etcd_open(&u->lock, path, c, ttl, shared, note, why, sizeof why);
    luaL_getmetatable(L, ETCD_MT); /* from here on __gc frees whatever open set up */
    lua_setmetatable(L, -2);
    if (rc != 0) {
        bt_etcd_close(&u->lock);
        lua_pushnil(L);
        lua_pushstring(L, why);
        return 2;
    }
    return 1;
}

/* h:try() -> true | false, message, code */
static int l_try(lua_State *L) {
    etcd_ud *u = check_etcd(L);
    bt_etcd_err err;
    int rc = bt_etcd_try(&u->lock, &err);
    if (rc == BT_OK) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushboolean(L, 0);
    if (rc == BT_BUSY) {
        lua_pushnil(L);
        lua_pushliteral(L, "busy");
    } else {
        lua_pushfstring(L, "baton: cannot lock '%s': %s", u->path, err.msg);
        lua_pushstring(L, err.code);
    }
    return 3;
}

static int l_wait(lua_State *L) {
    etcd_ud *u = check_etcd(L);
    lua_Number s = luaL_checknumber(L, 2);
    luaL_argcheck(L, s == s, 2, "seconds must not be NaN");
    lua_pushboolean(L, bt_etcd_wait(&u->lock, s));
    return 1;
}

static int l_pollfd(lua_State *L) {
    return bt_lua_push_fd(L, bt_etcd_pollfd(&check_etcd(L)->lock));
}

static int l_lostfd(lua_State *L) {
    return bt_lua_push_fd(L, bt_etcd_lostfd(&check_etcd(L)->lock));
}

static int l_held(lua_State *L) {
    lua_pushboolean(L, bt_etcd_held(&check_etcd(L)->lock));
    return 1;
}

/* What lost() and release() return: nothing when `ask` finds the lease was not lost, else
 * "baton: lock '<path>' was lost<when>: <why>". */
static int push_lost(lua_State *L, int (*ask)(bt_etcd_lock *, char *, size_t), const char *when) {
    etcd_ud *u = check_etcd(L);
    char why[512];
    if (!ask(&u->lock, why, sizeof why))
        return 0;
    lua_pushfstring(L, "baton: lock '%s' was lost%s: %s", u->path, when, why);
    return 1;
}

/* h:lost() -> nil | message: the held lock's lease was lost */
static int l_lost(lua_State *L) { return push_lost(L, bt_etcd_lost, ""); }

/* h:token() -> the fencing token while held, else nil */
static int l_token(lua_State *L) {
    long long token = bt_etcd_token(&check_etcd(L)->lock);
    if (token == 0)
        return 0;
    lua_pushinteger(L, (lua_Integer)token);
    return 1;
}

/* h:release() -> nil | message when the lock had been lost. Idempotent. */
static int l_release(lua_State *L) {
    return push_lost(L, bt_etcd_release, " before it was released");
}

/* h:set_value(string | nil): what the key holds instead of baton's record (elections) */
static int l_set_value(lua_State *L) {
    etcd_ud *u = check_etcd(L);
    size_t len = 0;
    const char *v = luaL_optlstring(L, 2, NULL, &len);
    if (bt_etcd_set_value(&u->lock, v, len) != 0)
        return luaL_error(L, "baton: out of memory");
    return 0;
}

/* h:proclaim(value) -> true | nil, message, code */
static int l_proclaim(lua_State *L) {
    etcd_ud *u = check_etcd(L);
    size_t len;
    const char *v = luaL_checklstring(L, 2, &len);
    bt_etcd_err err;
    if (bt_etcd_proclaim(&u->lock, v, len, &err) == BT_OK) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushnil(L);
    lua_pushfstring(L, "baton: cannot proclaim on '%s': %s", u->path, err.msg);
    lua_pushstring(L, err.code);
    return 3;
}

/* h:held_as() -> key, revision when it became ours, lease (hex) | nothing when not held */
static int l_held_as(lua_State *L) {
    etcd_ud *u = check_etcd(L);
    const char *key = bt_etcd_key(&u->lock);
    if (!key)
        return 0;
    char lease[24];
    snprintf(lease, sizeof lease, "%llx", bt_etcd_lease_id(&u->lock));
    lua_pushstring(L, key);
    lua_pushinteger(L, (lua_Integer)bt_etcd_got_rev(&u->lock));
    lua_pushstring(L, lease);
    return 3;
}

static int l_gc(lua_State *L) {
    bt_etcd_close(&check_etcd(L)->lock);
    return 0;
}

static int l_tostring(lua_State *L) {
    etcd_ud *u = check_etcd(L);
    static const char *const states[] = {"free", "queued", "held"};
    lua_pushfstring(L, "baton.etcd('%s', %s)", u->path, states[u->lock.state]);
    return 1;
}

static void set_string(lua_State *L, const char *name, const char *value) {
    if (value[0]) {
        lua_pushstring(L, value);
        lua_setfield(L, -2, name);
    }
}

static void set_number(lua_State *L, const char *name, lua_Number value) {
    if (value != 0) {
        lua_pushnumber(L, value);
        lua_setfield(L, -2, name);
    }
}

static void set_integer(lua_State *L, const char *name, long long value) {
    if (value != 0) {
        lua_pushinteger(L, (lua_Integer)value);
        lua_setfield(L, -2, name);
    }
}

/* core.holder(path) -> { ... } | nil | nil, message, code */
static int l_holder(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    bt_etcd_holder *h = malloc(sizeof *h);
    bt_etcd_err err;
    if (!h)
        return luaL_error(L, "baton: out of memory");
    bt_etcd_conf conf;
    const bt_etcd_conf *c = read_conf(L, 2, &conf);
    int rc = bt_etcd_holder_of(path, c, h, &err);
    if (rc < 0) {
        free(h->value);
        free(h);
        lua_pushnil(L);
        lua_pushfstring(L, "baton: cannot ask etcd about lock '%s': %s", path, err.msg);
        lua_pushstring(L, err.code);
        return 3;
    }
    if (rc == 0) {
        free(h);
        lua_pushnil(L);
        return 1;
    }
    lua_createtable(L, 0, 12);
    if (h->value) {
        lua_pushlstring(L, h->value, h->value_len);
        lua_setfield(L, -2, "value");
        free(h->value);
    }
    set_integer(L, "revision", h->revision);
    set_string(L, "kind", "etcd");
    set_string(L, "host", h->host);
    set_string(L, "note", h->note);
    set_string(L, "key", h->key);
    char lease[24];
    snprintf(lease, sizeof lease, "%llx", h->lease); /* as in the key: 64 bits exceed a double */
    set_string(L, "lease", h->lease ? lease : "");
    set_integer(L, "pid", h->pid);
    set_number(L, "since", h->since);
    set_integer(L, "token", h->token);
    set_integer(L, "queued", h->queued);
    lua_pushboolean(L, h->shared);
    lua_setfield(L, -2, "shared");
    free(h);
    return 1;
}

static const luaL_Reg methods[] = {
    {"try", l_try},       {"wait", l_wait},   {"pollfd", l_pollfd}, {"lostfd", l_lostfd},
    {"held", l_held},     {"lost", l_lost},   {"token", l_token},   {"release", l_release},
    {"set_value", l_set_value}, {"proclaim", l_proclaim}, {"held_as", l_held_as},
    {NULL, NULL}};

static const luaL_Reg meta[] = {{"__gc", l_gc}, {"__tostring", l_tostring}, {NULL, NULL}};

static const luaL_Reg functions[] = {{"open", l_open}, {"holder", l_holder}, {NULL, NULL}};

int luaopen_baton_etcd_core(lua_State *L) {
    if (bt_etcd_global_init() != 0)
        return luaL_error(L, "baton.etcd_core: libcurl could not be initialised");
    bt_lua_new_class(L, ETCD_MT, meta, methods);
    luaL_newlib(L, functions);
    return 1;
}
