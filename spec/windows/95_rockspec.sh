# Sourced by run.sh: the rockspec's Windows build, done as LuaRocks' "builtin" backend does it
# with mingw (each source compiled with -O2 and nothing of the Makefile's flags, linked with
# -shared against lua54 and a libsqlite3), then loaded by lua.exe in place of core.dll.
echo "== the rockspec's Windows build"
rock="$build/rock"
rm -rf "$rock" && mkdir -p "$rock/lib" "$rock/obj" "$rock/cpath/baton"
cc=x86_64-w64-mingw32-gcc
sources=$(lua5.4 -e 'local t = {} assert(loadfile("baton-scm-1.rockspec", "t", t))()
  for _, f in ipairs(t.build.platforms.windows.modules["baton.core"].sources) do print(f) end')
x86_64-w64-mingw32-ar rcs "$rock/lib/libsqlite3.a" "$build/deps/sqlite3.o"
built=yes objs=
for f in $sources; do
  o="$rock/obj/$(echo "$f" | tr / _).o"
  $cc -O2 -I"$build/deps/lua" -I"${WIN_DEPS:-build/windows}/sqlite" -c "$f" -o "$o" \
    2>>"$rock/log" || built="no: $f does not compile (see $rock/log)"
  objs="$objs $o"
done
[ "$built" = yes ] && { $cc -shared -o "$rock/cpath/baton/core.dll" $objs "$build/deps/lua/lua54.dll" \
  -L"$rock/lib" -lsqlite3 2>>"$rock/log" || built="no: the link failed (see $rock/log)"; }
check "the rockspec's Windows sources compile and link as LuaRocks builds them" "$built" yes
check "lua.exe locks with the module so built" \
  "$(export LUA_CPATH="$rock/cpath/?.dll"; onwine "$lua" -e \
    'local l = require("baton").lock("'"$dir"'/rock.lock"); print(l:is_locked()); l:release()')" true
