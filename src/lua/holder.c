/* baton.core's holder functions: the facts baton.holder (lua/baton/holder.lua) puts together
 * (markers, processes, holder records, the kernel's lock table, who has a file open). */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/os/os.h"
#include "../core/soft_marker.h"
#include "../core/holder_records.h"
#include "../core/soft_lock.h"
#include "binding.h"

#define RECORDS_MT "baton.records"
#define MAX_HOLDERS 64

/* core.hostname() -> the host name written into soft markers */
static int l_hostname(lua_State *L) {
    lua_pushstring(L, bt_soft_host());
    return 1;
}

/* core.token(pid) -> the process's start token, or nil when /proc does not tell */
static int l_token(lua_State *L) {
    char token[BT_TOKEN_LEN];
    int dead;
    if (bt_proc_token((pid_t)bt_lua_check_pid(L, 1), token, &dead) == 0)
        lua_pushnil(L);
    else
        lua_pushstring(L, token);
    return 1;
}

/* One holder of a record lock: { pid =, shared =, bytes =, sqlite = }. */
void bt_lua_push_record_holder(lua_State *L, const bt_lock_holder *h) {
    lua_createtable(L, 0, 7);
    if (h->pid > 0) {
        lua_pushinteger(L, (lua_Integer)h->pid);
        lua_setfield(L, -2, "pid");
    }
    lua_pushboolean(L, h->shared);
    lua_setfield(L, -2, "shared");
    lua_pushboolean(L, (h->bytes & BT_BYTES_WRITE) != 0);
    lua_setfield(L, -2, "writes");
    const char *state = bt_locks_sqlite_state(h->bytes);
    if (state) {
        lua_pushstring(L, state);
        lua_setfield(L, -2, "sqlite");
    }
    if (h->ofd) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "ofd");
    }
    /* the range as lslocks shows it: START and END, the end nil for "to the end of file" */
    lua_pushinteger(L, (lua_Integer)h->first);
    lua_setfield(L, -2, "start");
    if (h->last != ~0ULL) {
        lua_pushinteger(L, (lua_Integer)h->last);
        lua_setfield(L, -2, "end");
    }
}

/* core.lock_holders(path) -> flock holders, record-lock holders: two lists as the kernel's
 * table gives them ({ pid =, shared = } and { pid =, shared =, writes =, sqlite = }), empty
 * when free or missing; nil, message, code when /proc/locks cannot be read. Any kind of
 * file but a symbolic link is looked up; nothing is opened but /proc/locks. */
static int l_lock_holders(lua_State *L) {
    const char *path = bt_lua_check_path(L, 1);
    bt_lock_holder h[MAX_HOLDERS];
    long n = bt_locks_find(path, BT_LOCK_FLOCK | BT_LOCK_POSIX, h, MAX_HOLDERS);
    if (n < 0)
        return bt_lua_push_error(L, "baton: cannot read /proc/locks", errno, NULL);
    size_t listed = (size_t)n < MAX_HOLDERS ? (size_t)n : MAX_HOLDERS;
    lua_newtable(L);
    lua_newtable(L);
    int nflock = 0, nposix = 0;
    for (size_t i = 0; i < listed; i++) {
        if (h[i].kind == BT_LOCK_FLOCK) {
            bt_lua_push_holders(L, &h[i], 1);
            lua_rawgeti(L, -1, 1);
            lua_remove(L, -2);
            lua_rawseti(L, -3, ++nflock);
        } else {
            bt_lua_push_record_holder(L, &h[i]);
            lua_rawseti(L, -2, ++nposix);
        }
    }
    return 2;
}

static const char *type_name(mode_t mode) {
    static const struct {
        mode_t type;
        const char *name;
    } types[] = {{S_IFREG, "file"},          {S_IFDIR, "directory"}, {S_IFLNK, "link"},
                 {S_IFIFO, "fifo"},          {S_IFSOCK, "socket"},   {S_IFCHR, "character device"},
                 {S_IFBLK, "block device"}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if ((mode & S_IFMT) == types[i].type)
            return types[i].name;
    return "unknown";
}

/* core.lstat(path) -> { type =, target = (links) }, nil when there is nothing at path; nil,
 * message, code when it cannot be looked at. Never follows a link, never opens the file. */
static int l_lstat(lua_State *L) {
    const char *path = bt_lua_check_path(L, 1);
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        return bt_lua_push_path_error(L, "look at", path, errno);
    }
    lua_createtable(L, 0, 2);
    lua_pushstring(L, type_name(st.st_mode));
    lua_setfield(L, -2, "type");
    if (S_ISLNK(st.st_mode)) {
        char target[4096];
        ssize_t n = readlink(path, target, sizeof target);
        if (n >= 0) {
            lua_pushlstring(L, target, (size_t)n);
            lua_setfield(L, -2, "target");
        }
    }
    return 1;
}

/* t[id_key] = uid and t[name_key] = its user name (when it has one), in the table on top. */
static void push_user(lua_State *L, uid_t uid, const char *id_key, const char *name_key) {
    char name[256];
    lua_pushinteger(L, (lua_Integer)uid);
    lua_setfield(L, -2, id_key);
    if (bt_soft_user_name(uid, name, sizeof name)) {
        lua_pushstring(L, name);
        lua_setfield(L, -2, name_key);
    }
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
    push_user(L, info.uid, "uid", "user");
    if (!info.believed)
        push_user(L, info.owner_uid, "process_uid", "process_user");
    return 1;
}

/* core.process(pid) -> { cmdline =, started =, token =, zombie = } or nil when it is gone */
static int l_process(lua_State *L) {
    pid_t pid = (pid_t)bt_lua_check_pid(L, 1);
    int zombie;
    if (!bt_proc_exists(pid, &zombie))
        return 0;
    lua_newtable(L);
    char cmdline[4096];
    if (bt_proc_cmdline(pid, cmdline, sizeof cmdline) > 0) {
        lua_pushstring(L, cmdline);
        lua_setfield(L, -2, "cmdline");
    }
    double started = bt_proc_started(pid);
    if (started >= 0) {
        lua_pushnumber(L, started);
        lua_setfield(L, -2, "started");
    }
    char token[BT_TOKEN_LEN];
    int dead;
    if (bt_proc_token(pid, token, &dead) > 0) {
        lua_pushstring(L, token);
        lua_setfield(L, -2, "token");
    }
    lua_pushboolean(L, zombie);
    lua_setfield(L, -2, "zombie");
    return 1;
}

/* core.record(pid, path) -> { since =, note =, kind =, shared = } that baton process `pid`
 * published about the file at path, or nil */
static int l_record(lua_State *L) {
    pid_t pid = (pid_t)bt_lua_check_pid(L, 1);
    const char *path = bt_lua_check_path(L, 2);
    struct stat st;
    char token[BT_TOKEN_LEN];
    int dead;
    bt_record_info info;
    if (bt_proc_token(pid, token, &dead) == 0)
        token[0] = '\0'; /* not told here: every live table of the pid is searched */
    if (lstat(path, &st) != 0 || !bt_record_find(pid, token, st.st_dev, st.st_ino, &info))
        return 0;
    lua_newtable(L);
    lua_pushnumber(L, info.since);
    lua_setfield(L, -2, "since");
    if (info.has_note) {
        lua_pushlstring(L, info.note, info.note_len);
        lua_setfield(L, -2, "note");
    }
    lua_pushstring(L, info.kind == BT_RECORD_SOFT ? "soft" : "flock");
    lua_setfield(L, -2, "kind");
    lua_pushboolean(L, info.shared);
    lua_setfield(L, -2, "shared");
    return 1;
}

/* core.openers(path [, writers]) -> { pid, ... }: other processes of the file owner's user
 * that have the file open (those this process may look at); with `writers`, only those that
 * have it open for writing only */
static int l_openers(lua_State *L) {
    const char *path = bt_lua_check_path(L, 1);
    int writers = lua_toboolean(L, 2);
    struct stat st;
    pid_t pids[MAX_HOLDERS];
    long n = 0;
    if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
        n = (writers ? bt_writers : bt_openers)(st.st_dev, st.st_ino, (uid_t)-1, pids,
                                                MAX_HOLDERS); /* any owner */
    if (n < 0)
        n = 0;
    if (n > MAX_HOLDERS)
        n = MAX_HOLDERS;
    lua_createtable(L, (int)n, 0);
    for (long i = 0; i < n; i++) {
        lua_pushinteger(L, (lua_Integer)pids[i]);
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

/* Lives as long as the Lua state: when the last state closes, the record table goes. */
static int l_records_gc(lua_State *L) {
    (void)L;
    bt_record_release();
    return 0;
}

static const luaL_Reg holder_functions[] = {
    {"hostname", l_hostname},       {"token", l_token},
    {"marker", l_marker},
    {"process", l_process},         {"record", l_record},
    {"openers", l_openers},         {"lock_holders", l_lock_holders},
    {"lstat", l_lstat},             {NULL, NULL}};

void bt_lua_open_holder(lua_State *L) {
    luaL_setfuncs(L, holder_functions, 0);
    bt_lua_push_platform(L);
    lua_setfield(L, -2, "platform");
    lua_getfield(L, LUA_REGISTRYINDEX, RECORDS_MT);
    int known = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (known)
        return; /* this state already holds its reference */
    bt_record_retain();
    lua_newuserdata(L, 1);
    lua_newtable(L);
    lua_pushcfunction(L, l_records_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, RECORDS_MT);
}
