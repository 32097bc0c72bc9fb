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
WARN = -std=c11 -Wall -Wextra -Werror -pedantic
LIBS = -lm

PREFIX ?= /usr/local
INST_LIBDIR ?= $(PREFIX)/lib/lua/$(LUA_ABI)
INST_LUADIR ?= $(PREFIX)/share/lua/$(LUA_ABI)

BUILD ?= build/$(LUA)
CORE = $(BUILD)/baton/core.so
CORE_SRC = $(wildcard src/*.c)
HEADERS = $(wildcard src/*.h)
LUA_SRC = $(wildcard lua/baton/*.lua lua/baton/*/*.lua)

# etcd locks live in a module of their own, baton.etcd_core, so that baton.core never needs
# libcurl. It is built when pkg-config finds libcurl and jansson (ETCD=1 insists, ETCD=0 skips).
ETCD_PKGS = libcurl jansson
ifeq ($(origin ETCD),undefined)
  ETCD := $(shell pkg-config --exists $(ETCD_PKGS) 2>/dev/null && echo 1 || echo 0)
endif
ETCD_CFLAGS ?= $(shell pkg-config --cflags $(ETCD_PKGS) 2>/dev/null)
ETCD_LIBS ?= $(shell pkg-config --libs $(ETCD_PKGS) 2>/dev/null || echo -lcurl -ljansson)
ETCD_CORE = $(BUILD)/baton/etcd_core.so
ETCD_SRC = $(wildcard src/etcd/*.c) src/bt_clock.c src/bt_pid.c
ETCD_HEADERS = $(wildcard src/etcd/*.h) src/bt_clock.h src/bt_pid.h src/bt_errors.h src/lua_compat.h
ifeq ($(ETCD),1)
  ALL_MODULES = $(CORE) $(ETCD_CORE)
else
  ALL_MODULES = $(CORE)
endif

BUSTED ?= /usr/bin/busted
TEST_ENV = LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$(CURDIR)/spec/?.lua;$(CURDIR)/spec/?/init.lua;;" \
	LUA_CPATH="$(CURDIR)/$(BUILD)/?.so;;" BATON_TEST_LUA="$(LUA_BIN)"

.PHONY: all test sanitize install clean example bench bench-etcd

all: $(ALL_MODULES)

$(CORE): $(CORE_SRC) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -I$(LUA_INCDIR) $(CORE_SRC) -o $@ $(LIBFLAG) $(LIBS)

$(ETCD_CORE): $(ETCD_SRC) $(ETCD_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -pthread -I$(LUA_INCDIR) $(ETCD_CFLAGS) $(ETCD_SRC) -o $@ \
		$(LIBFLAG) $(ETCD_LIBS) -pthread -lm

test: $(ALL_MODULES)
	$(TEST_ENV) $(LUA_BIN) $(BUSTED) $(BUSTED_ARGS)

# The same specs with the C code built under AddressSanitizer and UndefinedBehaviorSanitizer.
# The interpreter itself is not instrumented, so the runtime is preloaded into it (and into
# every process the specs start); leaks are checked separately, as the interpreter's own
# exit does not free everything.
SAN_FLAGS = -O1 -g -fPIC -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
sanitize:
	$(MAKE) test BUILD=build/$(LUA)-san CFLAGS="$(SAN_FLAGS)" \
		TEST_ENV='$(subst $(BUILD),build/$(LUA)-san,$(TEST_ENV)) \
		LD_PRELOAD="$(shell $(CC) -print-file-name=libasan.so) $(shell $(CC) -print-file-name=libubsan.so)" \
		ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1'

install: $(ALL_MODULES)
	install -d $(DESTDIR)$(INST_LIBDIR)/baton $(DESTDIR)$(INST_LUADIR)/baton/kind
	install -m 0755 $(CORE) $(DESTDIR)$(INST_LIBDIR)/baton/core.so
	if [ "$(ETCD)" = 1 ]; then install -m 0755 $(ETCD_CORE) $(DESTDIR)$(INST_LIBDIR)/baton/etcd_core.so; fi
	install -m 0644 lua/baton/*.lua $(DESTDIR)$(INST_LUADIR)/baton/
	install -m 0644 lua/baton/kind/*.lua $(DESTDIR)$(INST_LUADIR)/baton/kind/

clean:
	rm -rf build

example: $(CORE)
	$(TEST_ENV) $(LUA_BIN) examples/quickstart.lua

bench: $(CORE)
	$(TEST_ENV) LUA_BIN=$(LUA_BIN) sh bench/run.sh

# etcd locks against `etcdctl lock`, on an etcd the bench starts on loopback
bench-etcd: $(ALL_MODULES)
	$(TEST_ENV) $(LUA_BIN) bench/etcd_cycle.lua $(BENCH_N)
