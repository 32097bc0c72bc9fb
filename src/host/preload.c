/* package.preload for baton.core, baton.etcd_core and the embedded Lua modules (preload.h). */
#define _POSIX_C_SOURCE 200809L
#include "preload.h"

#include <lauxlib.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "exe_folder.h"

#include "embedded.h"

int luaopen_baton_core(lua_State *L);

/* The loader for one embedded module; upvalue 1 is its index. The text is Lua source or
 * luac's output (tools/embed.sh), which luaL_loadbuffer tells apart. */
static int load_embedded(lua_State *L) {
    const bt_embedded *m = &bt_embedded_modules[lua_tointeger(L, lua_upvalueindex(1))];
    if (luaL_loadbuffer(L, m->source, m->size, m->chunkname) != LUA_OK)
        return lua_error(L);
    lua_pushstring(L, m->name);
    lua_pushstring(L, m->chunkname + 1);
    lua_call(L, 2, 1);
    return 1;
}

#define ETCD_MODULE "baton.etcd_core"
#define ETCD_OPEN "luaopen_baton_etcd_core"

/* Where the executable's own etcd module lies, relative to its folder: the build tree's
 * build/5.4/bin/../baton/ and an installation's bin/../lib/baton/. */
static const char *const etcd_beside[] = {"/../baton/etcd_core.so", "/../lib/baton/etcd_core.so"};

/* The module's value from the shared object at `path` (the stack top, replaced by it); a
 * file there that does not load raises package.loadlib's message. */
static void open_etcd_at(lua_State *L) {
    int top = lua_gettop(L);
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "loadlib");
    lua_pushvalue(L, top);
    lua_pushliteral(L, ETCD_OPEN);
    lua_call(L, 2, 2);
    if (!lua_isfunction(L, -2))
        luaL_error(L, "cannot load '%s': %s", lua_tostring(L, top), lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_pushliteral(L, ETCD_MODULE);
    lua_pushvalue(L, top);
    lua_call(L, 2, 1);
    lua_replace(L, top);
    lua_settop(L, top);
}

/* baton.etcd_core, and libcurl with it, is a shared object of its own loaded by the first
 * etcd:// lock: the one beside the executable (built for this Lua), else the first on
 * package.cpath. */
static int load_etcd(lua_State *L) {
    char dir[PATH_MAX];
    if (bt_exe_folder(dir, sizeof dir)) {
        for (size_t i = 0; i < sizeof etcd_beside / sizeof etcd_beside[0]; i++) {
            lua_pushfstring(L, "%s%s", dir, etcd_beside[i]);
            if (access(lua_tostring(L, -1), R_OK) == 0) {
                open_etcd_at(L);
                return 1;
            }
            lua_pop(L, 1);
        }
    }
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "searchpath");
    lua_pushliteral(L, ETCD_MODULE);
    lua_getfield(L, -3, "cpath");
    lua_call(L, 2, 2);
    if (lua_isstring(L, -2)) {
        lua_pop(L, 1);
        open_etcd_at(L);
        return 1;
    }
    return luaL_error(L, "module '" ETCD_MODULE "' not found beside the baton executable nor "
                         "on package.cpath");
}

void bt_preload(lua_State *L) {
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_baton_core);
    lua_setfield(L, -2, "baton.core");
    lua_pushcfunction(L, load_etcd);
    lua_setfield(L, -2, ETCD_MODULE);
    for (lua_Integer i = 0; bt_embedded_modules[i].name; i++) {
        lua_pushinteger(L, i);
        lua_pushcclosure(L, load_embedded, 1);
        lua_setfield(L, -2, bt_embedded_modules[i].name);
    }
    lua_pop(L, 1);
}
