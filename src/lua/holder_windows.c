/* baton.core's holder functions on Windows (make PLATFORM=windows), the facts baton.holder
 * (lua/baton/holder.lua) puts together, as holder.c gives them elsewhere: soft markers
 * (core/os/windows_soft.c), processes (their start time and token from GetProcessTimes) and
 * baton's holder records (core/os/windows_records.c), which are also the only source of
 * flock holders: Windows has no table of every program's locks, and baton never takes a
 * lock to find out. Who has a file open is not told; command lines are those the holders'
 * records carry (core.platform says so). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../core/os/windows_records.h"
#include "../core/soft_lock.h"
#include "binding.h"

#define MAX_HOLDERS 64

/* core.hostname() -> the host name written into soft markers */
static int l_hostname(lua_State *L) {
    lua_pushstring(L, bt_soft_host());
    return 1;
}

/* core.token(pid) -> the process's start token (its creation time), or nil */
static int l_token(lua_State *L) {
    char token[BT_TOKEN_LEN];
    if (bt_win_process_token(bt_lua_check_pid(L, 1), token, NULL) == 0)
        lua_pushnil(L);
    else
        lua_pushstring(L, token);
    return 1;
}

/* core.process(pid) -> { started =, token =, zombie = false } or nil when it is gone (or
 * cannot be asked) */
static int l_process(lua_State *L) {
    char token[BT_TOKEN_LEN];
    double started = -1;
    if (bt_win_process_token(bt_lua_check_pid(L, 1), token, &started) == 0)
        return 0;
    lua_createtable(L, 0, 3);
    lua_pushnumber(L, started);
    lua_setfield(L, -2, "started");
    lua_pushstring(L, token);
    lua_setfield(L, -2, "token");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "zombie");
    return 1;
}

static void set_bool(lua_State *L, const char *key, int v) {
    lua_pushboolean(L, v);
    lua_setfield(L, -2, key);
}

/* core.marker(path [, stale_after]) -> what the soft marker at path says, or nil when there
 * is none; nil, message, code when it cannot be read */
static int l_marker(lua_State *L) {
    const char *path = bt_lua_check_path(L, 1);
    lua_Number stale_after = luaL_optnumber(L, 2, -1);
    bt_soft_info info;
    int r = bt_soft_inspect(path, (double)stale_after, &info);
    if (r == 0)
        return 0;
    if (r < 0)
        return bt_lua_push_path_error(L, "read soft lock", path, errno);
    bt_lua_push_soft_info(L, &info);
    return 1;
}

/* core.record(pid, path) -> { since =, note =, kind =, shared =, cmdline = } that baton
 * process `pid` published about the file at path, or nil */
static int l_record(lua_State *L) {
    long pid = bt_lua_check_pid(L, 1);
    const char *path = bt_lua_check_path(L, 2);
    bt_win_id id;
    bt_win_record r;
    if (!bt_win_id_at(path, &id) || bt_win_records(&id, 0, pid, &r, 1) == 0)
        return 0;
    lua_createtable(L, 0, 5);
    lua_pushnumber(L, r.info.since);
    lua_setfield(L, -2, "since");
    if (r.info.has_note) {
        lua_pushlstring(L, r.info.note, r.info.note_len);
        lua_setfield(L, -2, "note");
    }
    lua_pushstring(L, r.info.kind == BT_RECORD_SOFT ? "soft" : "flock");
    lua_setfield(L, -2, "kind");
    set_bool(L, "shared", r.info.shared);
    if (r.cmd_len > 0) {
        lua_pushlstring(L, r.cmd, r.cmd_len);
        lua_setfield(L, -2, "cmdline");
    }
    return 1;
}

/* core.openers(path [, writers]) -> {}: Windows does not tell who has a file open */
static int l_openers(lua_State *L) {
    bt_lua_check_path(L, 1);
    lua_newtable(L);
    return 1;
}

/* core.lock_holders(path) -> the flock holders that baton's records name (live baton
 * processes), and no record-lock holders: two lists, as holder.c's */
static int l_lock_holders(lua_State *L) {
    const char *path = bt_lua_check_path(L, 1);
    bt_win_id id;
    bt_win_record *r = malloc(MAX_HOLDERS * sizeof *r);
    bt_lock_holder h[MAX_HOLDERS];
    if (!r)
        return bt_lua_push_path_error(L, "read the holder records of", path, ENOMEM);
    int n = bt_win_id_at(path, &id) ? bt_win_records(&id, BT_RECORD_FLOCK, 0, r, MAX_HOLDERS) : 0;
    if (n > MAX_HOLDERS)
        n = MAX_HOLDERS;
    for (int i = 0; i < n; i++) {
        memset(&h[i], 0, sizeof h[i]);
        h[i].pid = r[i].pid;
        h[i].shared = r[i].info.shared;
        h[i].kind = BT_LOCK_FLOCK;
    }
    free(r);
    bt_lua_push_holders(L, h, (size_t)n);
    lua_newtable(L);
    return 2;
}

/* core.lstat(path) -> { type = "file" | "directory" | "link" }, nil when there is nothing
 * at path; nil, message, code when it cannot be looked at. Never follows a link. */
static int l_lstat(lua_State *L) {
    const char *path = bt_lua_check_path(L, 1);
    DWORD e;
    wchar_t *w = bt_win_wide(path, &e);
    DWORD attrs = w ? GetFileAttributesW(w) : INVALID_FILE_ATTRIBUTES;
    if (w && attrs == INVALID_FILE_ATTRIBUTES)
        e = GetLastError();
    free(w);
    if (attrs == INVALID_FILE_ATTRIBUTES) {
        if (e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND)
            return 0;
        return bt_lua_push_path_error(L, "look at", path, bt_win_errno(e));
    }
    lua_createtable(L, 0, 1);
    lua_pushstring(L, attrs & FILE_ATTRIBUTE_REPARSE_POINT ? "link"
                      : attrs & FILE_ATTRIBUTE_DIRECTORY ? "directory"
                                                          : "file");
    lua_setfield(L, -2, "type");
    return 1;
}

static const luaL_Reg holder_functions[] = {
    {"hostname", l_hostname},   {"token", l_token},   {"marker", l_marker},
    {"process", l_process},     {"record", l_record}, {"openers", l_openers},
    {"lock_holders", l_lock_holders}, {"lstat", l_lstat}, {NULL, NULL}};

void bt_lua_open_holder(lua_State *L) {
    luaL_setfuncs(L, holder_functions, 0);
    bt_lua_push_platform(L);
    lua_setfield(L, -2, "platform");
}
