/* baton: a Lua 5.4 interpreter with baton built in, for lock-aware job scripts, plus the
 * `baton lock` and `baton status` commands (written in Lua: lua/baton/cli.lua).
 *
 * As lua(1): `baton [options] [script [args]]` with -e, -l, -v, -W, -E, `-` for stdin and
 * `--`; the script gets its arguments in `arg` and as `...`; LUA_PATH, LUA_CPATH and LUA_INIT
 * are honoured. Unlike lua(1): no interactive mode; an interrupted script unwinds (see
 * interrupt.h); command-line mistakes exit with 64 (EX_USAGE). */
#define _POSIX_C_SOURCE 200809L
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/signals.h"
#include "../core/spawn.h"
#include "fastlock.h"
#include "interrupt.h"
#include "preload.h"

#define PROGNAME "baton"
#define EX_USAGE 64

static const char usage_text[] =
    "usage: " PROGNAME " [options] [script [args]]\n"
    "       " PROGNAME " lock [options] FILE|DIRECTORY [--] COMMAND [ARGS...]\n"
    "       " PROGNAME " lock [options] FILE|DIRECTORY -c 'shell command'\n"
    "       " PROGNAME " lock [options] NUMBER   (or --fd NUMBER COMMAND)\n"
    "       " PROGNAME " status [--json] FILE...\n"
    "       " PROGNAME " break FILE\n"
    "       " PROGNAME " elect [options] NAME VALUE COMMAND [ARGS...]\n"
    "\n"
    "Runs a Lua 5.4 script with the baton module built in (require \"baton\"), or takes a\n"
    "lock around a command as flock(1) does, or says who holds locks.\n"
    "\n"
    "Options for scripts:\n"
    "  -e CODE      run CODE\n"
    "  -l NAME      require NAME into the global NAME (-l g=NAME: into g)\n"
    "  -v           show the version\n"
    "  -W           turn warnings on\n"
    "  -E           ignore LUA_PATH, LUA_CPATH and LUA_INIT\n"
    "  -h, --help   show this help\n"
    "  --           stop handling options\n"
    "  -            run the script read from standard input\n"
    "\n"
    "`" PROGNAME " lock --help` and `" PROGNAME " status --help` describe the commands;\n"
    "man baton(1) has the details.\n";

static int usage_error(const char *fmt, const char *what) {
    fprintf(stderr, PROGNAME ": ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\n%s", usage_text);
    return EX_USAGE;
}

/* The message of an error value and a traceback, like lua(1)'s. It runs where the error
 * was raised, before the stack unwinds: the script is ending, so its children are stopped
 * here, before `<close>` handlers release the locks they run under. */
static int msghandler(lua_State *L) {
    bt_children_stop(BT_STOP_GRACE);
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    if (bt_signal_caught()) /* an interruption needs no traceback */
        return 1;
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Call the function below nargs arguments; on error leave the message on the stack. */
static int docall(lua_State *L, int nargs, int nresults) {
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    int status = lua_pcall(L, nargs, nresults, base);
    lua_remove(L, base);
    return status;
}

/* Report a failed call; returns the exit status to use. */
static int report(lua_State *L) {
    int sig = bt_signal_caught();
    const char *msg = lua_tostring(L, -1);
    if (sig)
        fprintf(stderr, PROGNAME ": interrupted by %s\n", bt_signal_name(sig));
    else
        fprintf(stderr, PROGNAME ": %s\n", msg ? msg : "(error object is not a string)");
    fflush(stderr);
    lua_pop(L, 1);
    bt_children_stop(BT_STOP_GRACE);
    return sig ? 128 + sig : 1;
}

static int dochunk(lua_State *L, int status) {
    if (status == LUA_OK)
        status = docall(L, 0, 0);
    return status == LUA_OK ? 0 : report(L);
}

static int dostring(lua_State *L, const char *s, const char *name) {
    return dochunk(L, luaL_loadbuffer(L, s, strlen(s), name));
}

/* -l NAME or -l g=NAME */
static int dorequire(lua_State *L, const char *spec) {
    const char *eq = strchr(spec, '=');
    const char *mod = eq ? eq + 1 : spec;
    lua_getglobal(L, "require");
    lua_pushstring(L, mod);
    if (docall(L, 1, 1) != LUA_OK)
        return report(L);
    if (eq)
        lua_pushlstring(L, spec, (size_t)(eq - spec));
    else
        lua_pushstring(L, mod);
    lua_insert(L, -2);
    lua_setglobal(L, lua_tostring(L, -2));
    lua_pop(L, 1);
    return 0;
}

static int handle_luainit(lua_State *L) {
    const char *name = "=LUA_INIT_5_4";
    const char *init = getenv(name + 1);
    if (init == NULL) {
        name = "=LUA_INIT";
        init = getenv(name + 1);
    }
    if (init == NULL)
        return 0;
    if (init[0] == '@')
        return dochunk(L, luaL_loadfile(L, init + 1));
    return dostring(L, init, name);
}

/* arg[0] is the script, arg[1..] its arguments, arg[-n..-1] what came before. */
static void create_arg_table(lua_State *L, char **argv, int argc, int script) {
    lua_createtable(L, argc - script - 1, script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

static void show_version(lua_State *L) {
    lua_getglobal(L, "require");
    lua_pushliteral(L, "baton");
    const char *v = NULL;
    if (docall(L, 1, 1) == LUA_OK && lua_istable(L, -1)) {
        lua_getfield(L, -1, "_VERSION");
        v = lua_tostring(L, -1);
    }
    printf("%s (%s)\n", v ? v : PROGNAME, LUA_RELEASE);
    fflush(stdout);
    lua_settop(L, 0);
}

static void open_libs(lua_State *L, int no_env) {
    if (no_env) {
        lua_pushboolean(L, 1);
        lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
    }
    luaL_openlibs(L);
    bt_preload(L);
    bt_interrupt_install(L);
}

/* `baton lock ...` and `baton status ...`: cli.main(command, { args... }) -> exit status */
static int run_command(lua_State *L, int argc, char **argv) {
    open_libs(L, 0);
    create_arg_table(L, argv, argc, 1);
    /* Loading the modules makes little garbage: collecting it would only cost start-up time. */
    lua_gc(L, LUA_GCSTOP);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "baton.cli");
    if (docall(L, 1, 1) != LUA_OK)
        return report(L);
    lua_gc(L, LUA_GCRESTART);
    lua_getfield(L, -1, "main");
    lua_pushstring(L, argv[1]);
    lua_createtable(L, argc - 2, 0);
    for (int i = 2; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - 1);
    }
    if (docall(L, 2, 1) != LUA_OK)
        return report(L);
    int code = (int)lua_tointeger(L, -1);
    if (bt_signal_caught()) { /* a signal the command outlived still ends us as it says */
        bt_children_stop(BT_STOP_GRACE);
        return 128 + bt_signal_caught();
    }
    return code;
}

/* What the command line asks for, in order. */
typedef struct {
    int script;  /* index of the script in argv, or 0 */
    int version, warnings, no_env, help;
    int actions; /* -e and -l seen */
} plan;

/* Check the options; the index of the first argument after them (the script), or -1 after a
 * usage error (the status is in *status). */
static int scan(int argc, char **argv, plan *p, int *status) {
    memset(p, 0, sizeof *p);
    int i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || strcmp(a, "-") == 0)
            return i;
        if (strcmp(a, "--") == 0)
            return i + 1 < argc ? i + 1 : argc;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            p->help = 1;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--version") == 0) {
            p->version = 1;
        } else if (strcmp(a, "-W") == 0) {
            p->warnings = 1;
        } else if (strcmp(a, "-E") == 0) {
            p->no_env = 1;
        } else if (a[1] == 'e' || a[1] == 'l') {
            if (a[2] == '\0' && ++i >= argc) {
                *status = usage_error("'%s' needs an argument", a);
                return -1;
            }
            p->actions = 1;
        } else {
            *status = usage_error("unrecognized option '%s'", a);
            return -1;
        }
    }
    return argc;
}

/* Run -e and -l in command-line order. */
static int run_actions(lua_State *L, char **argv, int script) {
    for (int i = 1; i < script; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0)
            break;
        if (a[0] != '-' || (a[1] != 'e' && a[1] != 'l'))
            continue;
        const char *v = a[2] ? a + 2 : argv[++i];
        int status = a[1] == 'e' ? dostring(L, v, "=(command line)") : dorequire(L, v);
        if (status != 0)
            return status;
    }
    return 0;
}

static int run_script(lua_State *L, char **argv, int argc, int script) {
    const char *fname = argv[script];
    if (strcmp(fname, "-") == 0 && strcmp(argv[script - 1], "--") != 0)
        fname = NULL; /* standard input */
    int status = luaL_loadfile(L, fname);
    if (status != LUA_OK)
        return report(L);
    int n = argc - script - 1;
    luaL_checkstack(L, n + 3, "too many arguments to the script");
    for (int i = 1; i <= n; i++)
        lua_pushstring(L, argv[script + i]);
    if (docall(L, n, 0) != LUA_OK)
        return report(L);
    return 0;
}

static int pmain(lua_State *L) {
    int argc = (int)lua_tointeger(L, 1);
    char **argv = (char **)lua_touserdata(L, 2);
    lua_settop(L, 0);
    int status = 0;
    /* flock(1)'s common command lines run without loading any Lua: start-up as flock(1)'s */
    if (argc >= 2 && strcmp(argv[1], "lock") == 0) {
        bt_interrupt_install(L);
        if (bt_fast_lock(argc, argv, &status)) {
            bt_interrupt_quiet(); /* a signal it met is dealt with: no Lua error for it */
            lua_pushinteger(L, status);
            return 1;
        }
    }
    if (argc >= 2 && (strcmp(argv[1], "lock") == 0 || strcmp(argv[1], "status") == 0 ||
                      strcmp(argv[1], "elect") == 0 || strcmp(argv[1], "break") == 0)) {
        lua_pushinteger(L, run_command(L, argc, argv));
        return 1;
    }
    plan p;
    int script = scan(argc, argv, &p, &status);
    if (script < 0) {
        lua_pushinteger(L, status);
        return 1;
    }
    if (p.help) {
        fputs(usage_text, stdout);
        lua_pushinteger(L, 0);
        return 1;
    }
    open_libs(L, p.no_env);
    if (p.warnings)
        lua_warning(L, "@on", 0);
    create_arg_table(L, argv, argc, script < argc ? script : 0);
    if (p.version)
        show_version(L);
    if (!p.no_env && (status = handle_luainit(L)) != 0) {
        lua_pushinteger(L, status);
        return 1;
    }
    if ((status = run_actions(L, argv, script)) != 0) {
        lua_pushinteger(L, status);
        return 1;
    }
    if (script < argc) {
        status = run_script(L, argv, argc, script);
    } else if (!p.actions && !p.version) {
        if (isatty(STDIN_FILENO)) {
            fputs(usage_text, stderr);
            status = EX_USAGE;
        } else {
            status = dochunk(L, luaL_loadfile(L, NULL));
        }
    }
    if (status == 0 && bt_signal_caught()) { /* the script outlived an interruption */
        bt_children_stop(BT_STOP_GRACE);
        status = 128 + bt_signal_caught();
    }
    lua_pushinteger(L, status);
    return 1;
}

int main(int argc, char **argv) {
    lua_State *L = luaL_newstate();
    if (L == NULL) {
        fprintf(stderr, PROGNAME ": cannot create the Lua state: not enough memory\n");
        return 1;
    }
    lua_pushcfunction(L, pmain);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    int status = lua_pcall(L, 2, 1, 0);
    int code = (int)lua_tointeger(L, -1);
    if (status != LUA_OK) { /* only a memory error can get here */
        fprintf(stderr, PROGNAME ": %s\n", lua_tostring(L, -1));
        code = 1;
    }
    fflush(stdout);
    bt_interrupt_quiet();
    lua_close(L);
    return code;
}
