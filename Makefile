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
WARN = -std=c99 -Wall -Wextra -Werror -pedantic
# SQLite, for read/write locks. LuaRocks passes the folders of its SQLITE dependency; the
# system's are used by default.
SQLITE_INCDIR ?=
SQLITE_LIBDIR ?=
SQLITE_CFLAGS = $(if $(SQLITE_INCDIR),-I$(SQLITE_INCDIR))
LIBS = -lm $(if $(SQLITE_LIBDIR),-L$(SQLITE_LIBDIR)) -lsqlite3

PREFIX ?= /usr/local
INST_LIBDIR ?= $(PREFIX)/lib/lua/$(LUA_ABI)
INST_LUADIR ?= $(PREFIX)/share/lua/$(LUA_ABI)

BUILD ?= build/$(LUA)
CORE = $(BUILD)/baton/core.so
CORE_SRC = $(wildcard src/*.c)
HEADERS = $(wildcard src/*.h)
LUA_SRC = $(wildcard lua/baton/*.lua lua/baton/*/*.lua)

BUSTED ?= /usr/bin/busted
TEST_ENV = LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$(CURDIR)/spec/?.lua;$(CURDIR)/spec/?/init.lua;;" \
	LUA_CPATH="$(CURDIR)/$(BUILD)/?.so;;" BATON_TEST_LUA="$(LUA_BIN)"

.PHONY: all test sanitize install clean example

all: $(CORE)

$(CORE): $(CORE_SRC) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -I$(LUA_INCDIR) $(SQLITE_CFLAGS) $(CORE_SRC) -o $@ $(LIBFLAG) $(LIBS)

test: $(CORE)
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

install: $(CORE)
	install -d $(DESTDIR)$(INST_LIBDIR)/baton $(DESTDIR)$(INST_LUADIR)/baton/kind
	install -m 0755 $(CORE) $(DESTDIR)$(INST_LIBDIR)/baton/core.so
	install -m 0644 lua/baton/*.lua $(DESTDIR)$(INST_LUADIR)/baton/
	install -m 0644 lua/baton/kind/*.lua $(DESTDIR)$(INST_LUADIR)/baton/kind/

clean:
	rm -rf build

example: $(CORE)
	$(TEST_ENV) $(LUA_BIN) examples/quickstart.lua
