#!/bin/sh
# Fetch what the Windows cross build needs (make PLATFORM=windows passes build/windows):
#   mingw-w64's C compiler for x86-64 (Debian: gcc-mingw-w64-x86-64) and wine (wine64, wine)
#   to run the tests, installed with apt-get when missing;
#   DIR/lua5.4/, DIR/lua/, DIR/sqlite/   Debian's lua5.4 and sqlite3 source packages
#               (tools/debian-src.sh): lua.exe and lua54.dll, SQLite's amalgamation
# Only the Windows targets run this; a Linux build needs none of it. Needs root for apt-get.
set -eu
dir=${1:?usage: tools/windows-deps.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

if ! command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || ! command -v wine >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    gcc-mingw-w64-x86-64 wine64 wine >/dev/null
fi

sh "$(dirname "$0")/debian-src.sh" "$dir"
echo "windows-deps: $dir ready"
