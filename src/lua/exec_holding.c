#define _POSIX_C_SOURCE 200809L
/* core.exec_holding, for flock(1)'s -F: exec with the lock's descriptor kept open (POSIX; on
 * Windows exec_holding_windows.c refuses it). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "binding.h"

/* core.exec_holding(fd, argv) -> only on failure: nil, message, code. Replace this process
 * with argv (found on PATH), keeping descriptor fd (or none, for nil) open across the exec
 * so the command holds the lock (flock -F). */
int bt_lua_exec_holding(lua_State *L) {
    lua_Integer fd = luaL_optinteger(L, 1, -1);
    luaL_checktype(L, 2, LUA_TTABLE);
    int n = (int)lua_rawlen(L, 2);
    luaL_argcheck(L, n > 0 && n < 65536, 2, "needs a command");
    char **argv = (char **)lua_newuserdata(L, sizeof(char *) * ((size_t)n + 1));
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, 2, i + 1);
        argv[i] = (char *)luaL_checkstring(L, -1);
        lua_pop(L, 1); /* the string stays in the table */
    }
    argv[n] = NULL;
    if (fd >= 0 && fcntl((int)fd, F_SETFD, 0) != 0)
        return bt_lua_push_error(L, "baton", errno, NULL);
    fflush(NULL);
    execvp(argv[0], argv);
    int saved = errno;
    if (fd >= 0)
        fcntl((int)fd, F_SETFD, FD_CLOEXEC);
    lua_pushnil(L);
    lua_pushfstring(L, "baton: failed to execute %s: %s", argv[0], strerror(saved));
    lua_pushstring(L, saved == ENOMEM ? "ENOMEM" : "EXEC");
    return 3;
}
