/* baton.core_test: the pure parsers of the C core and the kernel's flock table, exposed so
 * that the specs can feed them text and check them against Python and the kernel. Built by
 * `make test` into the build folder only; never installed, never part of baton.core. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../core/os/linux_text.h"
#include "../core/soft_marker.h"
#include "binding.h"

#define MAX_HOLDERS 64

/* A decimal number of up to 64 bits given as a string (Lua numbers may not hold it). */
static unsigned long long check_u64(lua_State *L, int idx, const char *what) {
    size_t len;
    const char *s = luaL_checklstring(L, idx, &len);
    unsigned long long v = 0;
    if (len == 0 || len > 20)
        luaL_error(L, "baton: %s must be a decimal number, got '%s'", what, s);
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (~0ULL - (unsigned)(s[i] - '0')) / 10)
            luaL_error(L, "baton: %s must be a decimal number below 2^64, got '%s'", what, s);
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    return v;
}

/* A device major or minor number: a whole number from 0 to 2^32-1 (checked before the
 * conversion, which is undefined for a NaN or a number out of range). */
static unsigned long check_device(lua_State *L, int idx) {
    lua_Number n = luaL_checknumber(L, idx);
    luaL_argcheck(L, n >= 0 && n <= 4294967295.0 && n == floor(n), idx,
                  "a device number must be a whole number from 0 to 2^32-1");
    return (unsigned long)n;
}

/* core_test.start_token(boot_id, starttime) -> decimal string of (boot << 64) | starttime */
static int l_start_token(lua_State *L) {
    size_t len;
    const char *boot_text = luaL_checklstring(L, 1, &len);
    uint32_t boot[4];
    if (bt_boot_parse(boot_text, len, boot) != 0)
        return luaL_error(L, "baton: a boot id must be up to 32 hexadecimal digits, got '%s'",
                          boot_text);
    char token[BT_TOKEN_LEN];
    bt_token_format(boot, check_u64(L, 2, "a start time"), token);
    lua_pushstring(L, token);
    return 1;
}

/* core_test.parse_marker(text) -> { pid =, host =, token = } or nil when it names no owner */
static int l_parse_marker(lua_State *L) {
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    bt_marker m;
    if (!bt_marker_parse(text, len, &m))
        return 0;
    bt_lua_push_marker(L, &m);
    return 1;
}

/* core_test.parse_stat(text) -> state, starttime (a decimal string), or nil */
static int l_parse_stat(lua_State *L) {
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    bt_stat st;
    if (bt_stat_parse(text, len, &st) != 0)
        return 0;
    char digits[24];
    snprintf(digits, sizeof digits, "%llu", st.starttime);
    lua_pushlstring(L, &st.state, 1);
    lua_pushstring(L, digits);
    return 2;
}

/* core_test.parse_btime(text of /proc/stat) -> boot time in seconds since the epoch, or nil */
static int l_parse_btime(lua_State *L) {
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    double t = bt_btime_parse(text, len);
    if (t < 0)
        return 0;
    lua_pushnumber(L, t);
    return 1;
}

/* The file a parse_* call asks about: device (or any, when major is nil) and inode. */
static void check_file(lua_State *L, unsigned long *major, unsigned long *minor,
                       unsigned long long *ino) {
    *major = BT_ANY_DEVICE;
    *minor = 0;
    if (!lua_isnil(L, 2)) {
        *major = check_device(L, 2);
        *minor = check_device(L, 3);
    }
    *ino = check_u64(L, 4, "an inode number");
}

/* The holders of the kinds in `kinds` that the /proc/locks text at 1 lists for the file at
 * 2..4, into h (MAX_HOLDERS entries); returns how many are in h. */
static size_t parse_holders(lua_State *L, int kinds, bt_lock_holder *h) {
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    unsigned long major, minor;
    unsigned long long ino;
    check_file(L, &major, &minor, &ino);
    size_t n = bt_locks_parse_kinds(text, len, major, minor, ino, kinds, h, MAX_HOLDERS);
    return n < MAX_HOLDERS ? n : MAX_HOLDERS;
}

/* core_test.parse_locks(text, major, minor, inode) -> { { pid =, shared = }, ... }; with major
 * and minor nil, any device matches */
static int l_parse_locks(lua_State *L) {
    bt_lock_holder h[MAX_HOLDERS];
    size_t n = parse_holders(L, BT_LOCK_FLOCK, h);
    bt_lua_push_holders(L, h, n);
    return 1;
}

/* core_test.parse_record_locks(text, major, minor, inode) -> { { pid =, shared =, writes =,
 * sqlite = }, ... }: the POSIX and OFD record locks of the file, one entry per process */
static int l_parse_record_locks(lua_State *L) {
    bt_lock_holder h[MAX_HOLDERS];
    size_t n = parse_holders(L, BT_LOCK_POSIX, h);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        bt_lua_push_record_holder(L, &h[i]);
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

/* core_test.flock_holders(path) -> { { pid =, shared = }, ... } (empty when free or missing),
 * or nil, message, code when /proc/locks cannot be read */
static int l_flock_holders(lua_State *L) {
    const char *path = bt_lua_check_path(L, 1);
    bt_lock_holder h[MAX_HOLDERS];
    long n = bt_locks_holders(path, h, MAX_HOLDERS);
    if (n < 0)
        return bt_lua_push_error(L, "baton: cannot read /proc/locks", errno, NULL);
    bt_lua_push_holders(L, h, (size_t)n < MAX_HOLDERS ? (size_t)n : MAX_HOLDERS);
    return 1;
}

static const luaL_Reg test_functions[] = {
    {"start_token", l_start_token}, {"parse_marker", l_parse_marker},
    {"parse_stat", l_parse_stat},   {"parse_locks", l_parse_locks},
    {"parse_btime", l_parse_btime}, {"parse_record_locks", l_parse_record_locks},
    {"flock_holders", l_flock_holders}, {NULL, NULL}};

int luaopen_baton_core_test(lua_State *L) {
    luaL_newlib(L, test_functions);
    return 1;
}
