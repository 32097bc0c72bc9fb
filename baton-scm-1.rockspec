rockspec_format = "3.0"
package = "baton"
version = "scm-1"
source = {
  url = "git+https://example.invalid/baton.git",
}
description = {
  summary = "Cross-process locks for Lua: flock, soft, read/write and semaphore locks that release themselves",
  detailed = [[
baton takes and releases locks between processes: exclusive and shared flock(2) locks that
interoperate with flock(1) and Python's filelock, read/write locks on SQLite files (the same
lock as filelock's ReadWriteLock) and counting semaphores, all released through Lua 5.4
to-be-closed variables, __gc and a scoped :with() on older Lua versions. A C core does the system work;
waiting wakes on the holder's release instead of polling, and can yield to an event loop.

Locks on an etcd cluster (etcd://HOST:PORT/NAME paths, with leases and fencing tokens) live
in the separate module baton.etcd_core, built only when pkg-config finds libcurl and jansson:
on Debian, `apt-get install pkg-config libcurl4-openssl-dev libjansson-dev` before installing
this rock. Without them, baton builds and works as before, and etcd paths raise a clear error.
]],
  license = "MIT",
  labels = { "lock", "flock", "ipc", "concurrency" },
}
dependencies = {
  "lua >= 5.1, <= 5.4",
}
external_dependencies = {
  SQLITE = { header = "sqlite3.h", library = "sqlite3" }, -- read/write locks
}
-- Linux runs the Linux backend (inotify, /proc); macOS and FreeBSD the portable one
-- (PLATFORM=posix: backed-off waits, kqueue, holders from baton's records). See
-- doc/platforms.md for what is tested how.
supported_platforms = { "linux", "macosx", "freebsd" }
build = {
  type = "make",
  build_target = "rock",
  build_variables = {
    BUILD = "build/rock",
    CFLAGS = "$(CFLAGS)",
    LIBFLAG = "$(LIBFLAG)",
    LUA_INCDIR = "$(LUA_INCDIR)",
    LUA_BIN = "$(LUA)",
    SQLITE_INCDIR = "$(SQLITE_INCDIR)",
    SQLITE_LIBDIR = "$(SQLITE_LIBDIR)",
  },
  -- macOS: LuaRocks links modules as bundles that take Lua's symbols from the interpreter.
  platforms = {
    macosx = {
      build_variables = {
        PLATFORM = "posix",
        LIBFLAG = "-bundle -undefined dynamic_lookup -all_load",
      },
      install_variables = { PLATFORM = "posix" },
    },
    freebsd = {
      build_variables = { PLATFORM = "posix" },
      install_variables = { PLATFORM = "posix" },
    },
  },
  install_target = "install",
  install_variables = {
    BUILD = "build/rock",
    INST_PREFIX = "$(PREFIX)",
    INST_BINDIR = "$(BINDIR)",
    INST_LIBDIR = "$(LIBDIR)",
    INST_LUADIR = "$(LUADIR)",
    INST_CONFDIR = "$(CONFDIR)",
  },
}
