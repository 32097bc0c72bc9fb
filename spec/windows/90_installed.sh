# Sourced by run.sh: what `make install PLATFORM=windows` laid out.
if [ -n "$prefix" ]; then
  echo "== installed"
  check "the installed lua.exe loads baton with no LUA_PATH or LUA_CPATH" \
    "$(unset LUA_PATH LUA_CPATH; onwine "$prefix/bin/lua.exe" -e \
      'local b = require "baton"; local l = b.lock("'"$dir"'/three.lock"); l:release(); print(require("baton.core").platform.name)')" windows
fi

