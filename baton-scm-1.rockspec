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
-- (PLATFORM=posix: backed-off waits, kqueue, holders from baton's records); Windows the
-- Windows one, built by LuaRocks itself ("builtin": its mingw or MSVC set-up, no make). See
-- doc/platforms.md for what is tested how.
supported_platforms = { "linux", "macosx", "freebsd", "windows" }
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
    windows = {
      -- The same tree as `make install PLATFORM=windows`, without the baton executable (made by
      -- `make PLATFORM=windows`): baton.core from the Windows backend's sources, SQLite from
      -- the SQLITE dependency. spec/luarocks_spec.lua checks these lists against the Makefile's
      -- and lua/baton/; spec/windows/95_rockspec.sh builds them with mingw-w64.
      type = "builtin",
      modules = {
        ["baton.core"] = {
          sources = {
            "src/core/errors.c",
            "src/core/lock_kinds.c",
            "src/core/soft_marker.c",
            "src/core/os/windows.c",
            "src/core/os/windows_soft.c",
            "src/core/os/windows_process.c",
            "src/core/signals.c",
            "src/core/os/windows_lease.c",
            "src/core/os/windows_records.c",
            "src/core/strict_claim.c",
            "src/core/os/windows_strict.c",
            "src/core/os/windows_softrw.c",
            "src/core/rw_lock.c",
            "src/core/rw_vfs.c",
            "src/core/os/windows_rw.c",
            "src/core/os/windows_watch.c",
            "src/core/semaphore.c",
            "src/core/os/windows_interrupt.c",
            "src/core/os/windows_fdlock.c",
            "src/lua/module.c",
            "src/lua/handle.c",
            "src/lua/binding.c",
            "src/lua/process_windows.c",
            "src/lua/signals.c",
            "src/lua/soft.c",
            "src/lua/platform.c",
            "src/lua/holder_windows.c",
            "src/lua/soft_kinds.c",
            "src/lua/rwlock.c",
            "src/lua/semaphore.c",
            "src/lua/fdlock.c",
            "src/lua/exec_holding_windows.c",
          },
          libraries = { "sqlite3" },
          incdirs = { "$(SQLITE_INCDIR)" },
          libdirs = { "$(SQLITE_LIBDIR)" },
        },
        ["baton.cli"] = "lua/baton/cli.lua",
        ["baton.coop"] = "lua/baton/coop.lua",
        ["baton.elect"] = "lua/baton/elect.lua",
        ["baton.holder"] = "lua/baton/holder.lua",
        ["baton"] = "lua/baton/init.lua",
        ["baton.jobs"] = "lua/baton/jobs.lua",
        ["baton.lock"] = "lua/baton/lock.lua",
        ["baton.options"] = "lua/baton/options.lua",
        ["baton.process"] = "lua/baton/process.lua",
        ["baton.rwlock"] = "lua/baton/rwlock.lua",
        ["baton.scoped"] = "lua/baton/scoped.lua",
        ["baton.semaphore"] = "lua/baton/semaphore.lua",
        ["baton.uv"] = "lua/baton/uv.lua",
        ["baton.wait"] = "lua/baton/wait.lua",
        ["baton.kind.etcd"] = "lua/baton/kind/etcd.lua",
        ["baton.kind.flock"] = "lua/baton/kind/flock.lua",
        ["baton.kind"] = "lua/baton/kind/init.lua",
        ["baton.kind.rw"] = "lua/baton/kind/rw.lua",
        ["baton.kind.soft"] = "lua/baton/kind/soft.lua",
        ["baton.kind.soft_rw"] = "lua/baton/kind/soft_rw.lua",
      },
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
