#!/bin/sh
# The Windows tests (make test PLATFORM=windows): baton's flock kind in wine processes, each
# a separate `wine lua.exe` started from here, against another such process and against a
# program that locks with msvcrt's _locking. Run from the repository's root:
#   sh spec/windows/run.sh BUILD LOCKING_PEER [PREFIX]
# with BUILD holding deps/lua/lua.exe and baton/core.dll, and PREFIX what
# `make install PLATFORM=windows PREFIX=...` laid out there. WINE (default wine) runs them;
# WINEPREFIX and WINEDEBUG come from the caller. Prints one line per check; exits 1 when
# any fails.
set -u
build=${1:?usage: spec/windows/run.sh BUILD LOCKING_PEER}
locking=${2:?usage: spec/windows/run.sh BUILD LOCKING_PEER}
prefix=${3:-}
wine=${WINE:-wine}
lua="$build/deps/lua/lua.exe"
dir="$build/test"
rm -rf "$dir" && mkdir -p "$dir"
export LUA_PATH="lua/?.lua;lua/?/init.lua" LUA_CPATH="$build/?.dll"
lock="$dir/one.lock"
failed=0 passed=0
pids=

peer() { "$wine" "$lua" spec/windows/peer.lua "$@" 2>&1 | tr -d '\r'; }

check() { # check NAME GOT WANT
  if [ "$2" = "$3" ]; then
    passed=$((passed + 1)); echo "ok   $1"
  else
    failed=$((failed + 1)); echo "FAIL $1: got '$2', want '$3'"
  fi
}

# wait_file NAME: until a peer has created it (wine's first starts are slow)
wait_file() {
  i=0
  while [ ! -e "$1" ]; do
    i=$((i + 1))
    if [ $i -gt 1200 ]; then echo "FAIL no peer made $1 in 120 s"; exit 1; fi
    sleep 0.1
  done
}

# background PEER-COMMAND... OUT: start it, its output into OUT
background() {
  out=$1; shift
  ( "$@" 2>&1 | tr -d '\r' >"$out" ) &
  pids="$pids $!"
}

# the waiter's seconds are within [lo, hi]
within() { awk -v t="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(t >= lo && t <= hi) }'; }

cleanup() { for p in $pids; do kill "$p" 2>/dev/null; done; }
trap cleanup EXIT

echo "== baton's lock in one wine process, others trying"
background "$dir/holder.out" "$wine" "$lua" spec/windows/peer.lua hold "$lock" "$dir/ready1" "$dir/go1"
wait_file "$dir/ready1"
check "try_lock while another process holds it" "$(peer try "$lock")" busy
check "a shared try_lock while another process holds it exclusively" "$(peer try "$lock" shared)" busy
check "msvcrt _locking while baton holds it" "$("$wine" "$locking" try "$lock" 2>&1 | tr -d '\r')" busy
set -- $(peer wait "$lock" 1.0)
check "a 1 s timeout gives up with the timeout code" "$1" timeout
if within "$2" 0.95 3; then check "the timeout waited about 1 s ($2 s)" 1 1
else check "the timeout waited about 1 s" "$2 s" "0.95 to 3 s"; fi

echo "== release lets the waiting process in"
background "$dir/waiter.out" "$wine" "$lua" spec/windows/peer.lua wait "$lock" 60 "$dir/waiting1"
wait_file "$dir/waiting1"
sleep 1
touch "$dir/go1"
wait $pids 2>/dev/null
pids=
check "the holder released" "$(cat "$dir/holder.out")" released
set -- $(cat "$dir/waiter.out")
check "the waiter got the lock after the release" "${1:-}" ok
if within "${2:-0}" 0.5 30; then check "the waiter waited for it (${2} s)" 1 1
else check "the waiter waited for the release" "${2:-none} s" "0.5 to 30 s"; fi
check "free again afterwards" "$(peer try "$lock")" ok

echo "== a program locking with msvcrt _locking, baton trying"
lock2="$dir/two.lock"
background "$dir/locking.out" "$wine" "$locking" hold "$lock2" "$dir/ready2" "$dir/go2"
wait_file "$dir/ready2"
check "try_lock while a _locking program holds the byte" "$(peer try "$lock2")" busy
touch "$dir/go2"
wait $pids 2>/dev/null
pids=
check "try_lock after it unlocked" "$(peer try "$lock2")" ok

echo "== shared locks"
background "$dir/shared.out" "$wine" "$lua" spec/windows/peer.lua hold "$lock" "$dir/ready3" "$dir/go3" shared
wait_file "$dir/ready3"
check "a shared lock beside another process's shared lock" "$(peer try "$lock" shared)" ok
check "an exclusive lock beside another process's shared lock" "$(peer try "$lock")" busy
touch "$dir/go3"
wait $pids 2>/dev/null
pids=

echo "== soft locks"
soft="$dir/soft.lock"
background "$dir/softholder.out" "$wine" "$lua" spec/windows/peer.lua soft_hold "$soft" "$dir/ready4" "$dir/go4"
wait_file "$dir/ready4"
check "a live holder's marker is never taken" "$(peer soft_try "$soft")" busy
check "the marker is in filelock's format: pid, host, start token" \
  "$(awk 'END { print NR }' "$soft") $(sed -n 1p "$soft" | tr -d 0-9)$(sed -n 3p "$soft" | tr -d 0-9)" "3 "
touch "$dir/go4"
wait $pids 2>/dev/null
pids=
check "release removes the marker" "$(cat "$dir/softholder.out")" released
background "$dir/abandon.out" "$wine" "$lua" spec/windows/peer.lua soft_abandon "$soft" "$dir/ready5" "$dir/go5"
wait_file "$dir/ready5"
check "a live holder's marker is never taken (its holder exits next)" "$(peer soft_try "$soft")" busy
touch "$dir/go5"
wait $pids 2>/dev/null
pids=
# a marker marked for deletion by the attempt above would be gone with its holder
check "the attempt neither deleted nor marked it: it outlives its holder" "$([ -f "$soft" ] && echo left)" left
check "a gone holder's marker is taken over" "$(peer soft_try "$soft")" "ok gone"
check "a marker whose pid names a process of another start time is taken over" \
  "$(peer soft_recycled "$dir/recycled.lock")" ok
printf 'not a marker\n' >"$dir/foreign.lock"
check "a file that names no owner is never broken" "$(peer soft_try "$dir/foreign.lock")" busy
check "nor changed" "$(cat "$dir/foreign.lock")" "not a marker"
printf '1\nanother-host.example\n' >"$dir/elsewhere.lock"
check "another host's marker is never broken" "$(peer soft_try "$dir/elsewhere.lock")" busy

echo "== one process"
check "two lock objects of one process exclude each other; a wait for the other without a deadline fails at once" "$(peer objects "$lock")" "busy never ok"
check "baton.spawn says it is not on Windows" \
  "$("$wine" "$lua" -e 'local ok, e = pcall(require("baton").spawn, {"cmd"}); print(e)' 2>&1 | tr -d '\r' | sed 's/^.*: baton/baton/')" \
  "baton.spawn is not available on Windows yet"

if [ -n "$prefix" ]; then
  echo "== installed"
  check "the installed lua.exe loads baton with no LUA_PATH or LUA_CPATH" \
    "$(env -u LUA_PATH -u LUA_CPATH "$wine" "$prefix/bin/lua.exe" -e \
      'local b = require "baton"; local l = b.lock("'"$dir"'/three.lock"); l:release(); print(require("baton.core").platform.name)' \
      2>&1 | tr -d '\r')" windows
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
