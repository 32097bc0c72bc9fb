#!/bin/sh
# The Windows tests (make test PLATFORM=windows): baton's flock kind in wine processes, each
# a separate `wine lua.exe` started from here, against another such process and against a
# program that locks with msvcrt's _locking. Run from the repository's root:
#   sh spec/windows/run.sh BUILD LOCKING_PEER [PREFIX]
# with BUILD holding deps/lua/lua.exe and baton/core.dll, and PREFIX what
# `make install PLATFORM=windows PREFIX=...` laid out there. WINE (default wine) runs them,
# WINESERVER (default wineserver) serves them; WINEPREFIX and WINEDEBUG come from the caller.
# Prints one line per check; exits 1 when any fails. Each area's checks are a file of their
# own here, NN_AREA.sh, sourced in the order of their numbers (WIN_AREAS="flock soft" runs
# only those); lib.sh has what they share.
set -u
build=${1:?usage: spec/windows/run.sh BUILD LOCKING_PEER}
locking=${2:?usage: spec/windows/run.sh BUILD LOCKING_PEER}
prefix=${3:-}
wine=${WINE:-wine}
lua="$build/deps/lua/lua.exe"
top="$build/test"
rm -rf "$top" && mkdir -p "$top"
export LUA_PATH="lua/?.lua;lua/?/init.lua;spec/windows/?.lua" LUA_CPATH="$build/?.dll"
. spec/windows/lib.sh
# One wineserver, and the service processes wine starts with it, for the whole run, started
# here with none of the checks' pipes: those a peer started would inherit that peer's output
# pipe and hold it open after the peer ended, so whatever read it would wait for them to quit.
# A server still running in the prefix (wineboot's, an earlier run's) goes first: it would
# refuse to make way for a persistent one, then quit when idle.
wineserver=${WINESERVER:-wineserver}
"$wineserver" -k 2>/dev/null
"$wineserver" -w
"$wineserver" -p </dev/null >/dev/null 2>&1 || { echo "run.sh: wineserver -p failed" >&2; exit 1; }
trap '"$wineserver" -k 2>/dev/null' EXIT
"$wine" "$lua" -e "" </dev/null >/dev/null 2>&1
for f in spec/windows/[0-9][0-9]_*.sh; do
  area=${f#spec/windows/[0-9][0-9]_}
  area=${area%.sh}
  # each area in a folder of its own: no file of one is taken for another's
  dir="$top/$area" lock="$top/$area/one.lock"
  case " ${WIN_AREAS:-$area} " in *" $area "*) mkdir -p "$dir" && . "$f" ;; esac
done

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
