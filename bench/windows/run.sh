#!/bin/sh
# The Windows build's benchmarks, run under wine (`make bench PLATFORM=windows`): figures of
# wine on this machine, not of Windows. From the repository's root:
#   sh bench/windows/run.sh BUILD PROBE [BEFORE]
# BUILD holds deps/lua/lua.exe and baton/core.dll; PROBE is lock_wait_probe.exe; BEFORE, when
# given, is another build's folder (the same layout) whose core.dll is measured in the same
# run for comparison. WINE (default wine), WINEPREFIX and WINEDEBUG come from the caller;
# ROUNDS (default 200) hand-offs per figure, CYCLES (default 10000) flock cycles (a tenth as
# many soft ones).
set -eu
build=${1:?usage: bench/windows/run.sh BUILD PROBE [BEFORE]}
probe=${2:?usage: bench/windows/run.sh BUILD PROBE [BEFORE]}
before=${3:-}
wine=${WINE:-wine}
lua="$build/deps/lua/lua.exe"
rounds=${ROUNDS:-200}
tmp=$(mktemp -d /tmp/baton-winbench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export LUA_PATH="lua/?.lua;lua/?/init.lua;spec/windows/?.lua"

# with CORE_BUILD OUT PROGRAM ARGS...: a wine lua.exe with that build's core.dll, its output
# into OUT. Through a file, not a pipe: a wineserver that a wine program starts inherits the
# pipe and would hold it open after the program ends.
with() {
  b=$1 out=$2; shift 2
  LUA_CPATH="$b/?.dll" "$wine" "$lua" "$@" >"$out.raw" 2>&1 || true
  tr -d '\r' <"$out.raw" >"$out"
}

# handoff CORE_BUILD KIND: ROUNDS hand-offs from a holder process to a waiter process with a
# 30 s timeout (spec/windows/wait_peer.lua), each released 10 ms after the waiter began to
# wait; the time from the holder's release to the waiter's acquisition, on
# QueryPerformanceCounter, one clock for both processes.
handoff() {
  w="$tmp/handoff-$2"
  rm -rf "$w" && mkdir -p "$w/sync" "$w/lock"
  with "$1" "$w/holder" spec/windows/wait_peer.lua hold "$2" "$w/lock/x.lock" "$w/sync" "$rounds" 0.01 &
  with "$1" "$w/waiter" spec/windows/wait_peer.lua wait "$2" "$w/lock/x.lock" "$w/sync" "$rounds" 30
  wait
  paste "$w/holder" "$w/waiter" |
    awk '$1 ~ /^[0-9.]+$/ && $2 ~ /^[0-9.]+$/ { print ($2 - $1) * 1e6 }' | sort -n |
    awk '{ a[NR] = $1 }
      function q(p) { i = int(p * NR) + 1; return a[i > NR ? NR : i] }
      END { printf "%-6s p50_us %6.0f p90_us %6.0f p99_us %6.0f max_us %6.0f (%d rounds)\n",
        kind, q(.5), q(.9), q(.99), a[NR], NR }' kind="$2"
}

measure() { # measure LABEL CORE_BUILD
  echo "-- $1 ($2/baton/core.dll)"
  with "$2" "$tmp/cycle" bench/windows/cycle.lua "$tmp" "${CYCLES:-10000}"
  cat "$tmp/cycle"
  echo "hand-off to a waiter with a timeout, holder in another wine process:"
  handoff "$2" flock
  handoff "$2" soft
}

echo "== $("$wine" --version 2>/dev/null), $(uname -sr), $(nproc) cores: wine's figures, not Windows'"
echo "== does the system wait for a lock on an overlapped handle (LockFileEx + CancelIoEx)?"
"$wine" "$probe" "$tmp/probe.lock" >"$tmp/probe.out" 2>&1 || true
tr -d '\r' <"$tmp/probe.out"
echo "== uncontended cycles (wall ns per cycle) and hand-off latency (us)"
measure "this build" "$build"
if [ -n "$before" ]; then measure "before" "$before"; fi
