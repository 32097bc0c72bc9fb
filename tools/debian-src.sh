#!/bin/sh
# Fetch Debian's lua5.4 and sqlite3 source packages into DIR, for the cross builds (macOS,
# Windows), which carry no Lua or SQLite of their own:
#   DIR/lua5.4/ the lua5.4 source package; DIR/lua/ Lua as released (its original tarball,
#               so that none of Debian's paths are built in) with the package's cve patches
#   DIR/sqlite/ the sqlite3 source package, made into the amalgamation DIR/sqlite/sqlite3.c
#               and the shell's DIR/sqlite/shell.c
# Needs root for apt-get (a deb-src entry for Debian's own archive is added once, as a file
# of its own) and tclsh (Debian: tcl) to make the amalgamation. Each step is skipped when
# done before.
set -eu
dir=${1:?usage: tools/debian-src.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# The tools these steps use, on a machine that has only what a Linux build needs.
need=""
for t in dpkg-source:dpkg-dev tclsh:tcl patch:patch xz:xz-utils; do
  command -v "${t%%:*}" >/dev/null 2>&1 || need="$need ${t#*:}"
done
if [ -n "$need" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
fi

src=/etc/apt/sources.list.d/baton-deb-src.sources
need_src() { ! ls "$dir/$1"/*/ >/dev/null 2>&1; }
if need_src lua5.4 || need_src sqlite; then
  if ! apt-get source --print-uris lua5.4 >/dev/null 2>&1; then
    # The same archives and suites as the deb entries of debian.sources, for sources.
    awk 'BEGIN { RS = ""; ORS = "\n\n" }
         /(^|\n)Types:[^\n]*deb/ && /deb\.debian\.org/ { sub(/Types:[^\n]*/, "Types: deb-src"); print }' \
      /etc/apt/sources.list.d/debian.sources >"$src"
    apt-get update -qq
  fi
fi
fetch() { # fetch PACKAGE FOLDER
  if need_src "$2"; then
    rm -rf "$dir/$2" && mkdir -p "$dir/$2"
    (cd "$dir/$2" && apt-get source -qq --only-source "$1" >/dev/null 2>&1 ||
      { cd "$dir/$2" && apt-get source --only-source "$1"; })
  fi
}
fetch lua5.4 lua5.4
fetch sqlite3 sqlite
# DIR/lua: Lua as released, with the package's security fixes.
if [ ! -f "$dir/lua/src/lua.h" ]; then
  rm -rf "$dir/lua" && mkdir -p "$dir/lua"
  tar -xzf "$(ls "$dir"/lua5.4/lua5.4_*.orig.tar.gz | head -1)" -C "$dir/lua" --strip-components=1
  deb=$(ls -d "$dir"/lua5.4/lua5.4-*/ | head -1)
  for p in "$deb"debian/patches/*cve*.patch; do
    [ -f "$p" ] && patch -s -d "$dir/lua" -p1 <"$p"
  done
fi

# SQLite's amalgamation (one sqlite3.c) and its shell's source (shell.c, for the Windows
# checks' sqlite3.exe), made from the source tree with its own tools.
if [ ! -f "$dir/sqlite/sqlite3.c" ] || [ ! -f "$dir/sqlite/shell.c" ]; then
  tree=$(ls -d "$dir"/sqlite/sqlite3-*/ | head -1)
  # configured afresh: a build folder made elsewhere names its old source path
  rm -rf "$dir/sqlite/build" && mkdir -p "$dir/sqlite/build"
  (cd "$dir/sqlite/build" && "$tree/configure" --disable-tcl >/dev/null && make -s sqlite3.c shell.c >/dev/null)
  cp "$dir/sqlite/build/sqlite3.c" "$dir/sqlite/build/sqlite3.h" "$dir/sqlite/build/shell.c" "$dir/sqlite/"
fi
