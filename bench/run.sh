#!/bin/sh
# Every baton benchmark beside its yardstick from ../shared/bench, in one run, so the ratios
# compare like with like on this machine. Run through `make bench` (it sets the module paths).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
yard=${BATON_YARDSTICKS:-$here/../../shared/bench}
lua=${LUA_BIN:-lua5.4}
py=/usr/bin/python3
tmp=$(mktemp -d /tmp/baton-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

echo "== start-up, side by side (alternating rounds; wall ms per run)"
bin=${BATON_BIN:-$here/../build/5.4/bin/baton}
cc -O2 -std=c11 -o "$tmp/startup" "$here/startup.c"
"$tmp/startup" "${STARTUP_ROUNDS:-500}" \
  -- "flock FILE true" flock "$tmp/s.lock" true \
  -- "baton lock FILE true" "$bin" lock "$tmp/s.lock" true
"$tmp/startup" "${STARTUP_ROUNDS:-500}" \
  -- "lua5.4 -e ''" lua5.4 -e '' \
  -- "baton -e ''" "$bin" -e ''

echo "== uncontended cycle (CPU ns per cycle)"
cc -O2 -o "$tmp/raw_flock" "$yard/raw_flock.c"
"$tmp/raw_flock" "$tmp/raw.lock" 200000
"$lua" "$here/cycle.lua" "$tmp/baton.lock" 200000
"$py" "$yard/py_cycle.py" "$tmp/py.lock" 50000 | grep '^FileLock'

echo "== hand-off to a waiter with a timeout (microseconds)"
rounds=${ROUNDS:-200}
printf 'blocking flock waiter (floor):     '
"$py" "$yard/handoff.py" "$tmp/h1.lock" "$rounds" 0.01 -- "$py" "$yard/waiter_raw.py" "$tmp/h1.lock"
printf 'baton waiter, holder closes:       '
"$py" "$yard/handoff.py" "$tmp/h2.lock" "$rounds" 0.01 -- "$lua" "$here/waiter.lua" "$tmp/h2.lock"
printf 'baton waiter, baton holder:        '
"$lua" "$here/handoff_baton.lua" "$tmp/h3.lock" "$rounds" 0.01 -- "$lua" "$here/waiter.lua" "$tmp/h3.lock"
printf 'baton waiter, cooperative sleep:   '
"$py" "$yard/handoff.py" "$tmp/h4.lock" "$rounds" 0.01 -- "$lua" "$here/waiter.lua" "$tmp/h4.lock" sleep
printf 'baton waiter, holder only unlocks: '
"$py" "$yard/handoff.py" --unlock-only "$tmp/h5.lock" "$rounds" 0.01 -- "$lua" "$here/waiter.lua" "$tmp/h5.lock"
# The portable backend (make PLATFORM=posix) on this machine: no inotify, so a waiter with a
# timeout finds the release by attempts that back off from 0.5 ms to 10 ms.
if [ -n "${BATON_POSIX_CPATH:-}" ]; then
  printf 'posix waiter, holder closes:       '
  LUA_CPATH="$BATON_POSIX_CPATH" "$py" "$yard/handoff.py" "$tmp/p2.lock" "$rounds" 0.01 -- "$lua" "$here/waiter.lua" "$tmp/p2.lock"
  printf 'posix waiter, holder only unlocks: '
  LUA_CPATH="$BATON_POSIX_CPATH" "$py" "$yard/handoff.py" --unlock-only "$tmp/p5.lock" "$rounds" 0.01 -- "$lua" "$here/waiter.lua" "$tmp/p5.lock"
fi
printf 'Python filelock waiter:            '
"$py" "$yard/handoff.py" "$tmp/h6.lock" 20 0.01 -- "$py" "$yard/waiter_pyfilelock.py" "$tmp/h6.lock"

echo "== 8 processes x 10000 increments of a counter file under one lock (wall seconds)"
cc -O2 -std=c11 -o "$tmp/contend" "$here/contend.c" $(ls "$here"/../src/core/*.c "$here"/../src/core/os/*.c) -lsqlite3 -lm
count() { echo "count $(cat "$1")"; }
for mode in "raw" "core" "core 60"; do
  echo 0 > "$tmp/c.count"
  printf 'C, %-18s' "$mode:"
  set -- $mode
  "$tmp/contend" "$1" "$tmp/c-$1.lock" "$tmp/c.count" 8 10000 ${2:-} | tr '\n' ' '
  count "$tmp/c.count"
done
for timeout in "" 60; do
  echo 0 > "$tmp/l.count"
  start=$("$lua" -e 'print(require("baton").now())')
  pids=""
  for _ in 1 2 3 4 5 6 7 8; do
    "$lua" "$here/contend.lua" "$tmp/l$timeout.lock" "$tmp/l.count" 10000 $timeout & pids="$pids $!"
  done
  for p in $pids; do wait "$p"; done
  printf 'Lua, baton %-11s' "${timeout:+timeout $timeout}:"
  "$lua" -e "io.write(string.format('seconds %.3f ', require('baton').now() - $start))"
  count "$tmp/l.count"
done
echo 0 > "$tmp/n.count"
printf 'Lua, the same work in one process without a lock: '
"$lua" "$here/contend.lua" "" "$tmp/n.count" 80000 | tr '\n' ' '
count "$tmp/n.count"

echo "== soft locks (CPU ns per cycle; tmpfs, then this folder's file system)"
"$lua" "$here/soft_cycle.lua" /dev/shm 50000 "$yard/py_cycle.py"
"$lua" "$here/soft_cycle.lua" "$tmp" 20000 "$yard/py_cycle.py"
echo "== soft kinds against filelock 3.32: plain, lease, strict (CPU ns per cycle)"
"$lua" "$here/soft_kinds_cycle.lua" /dev/shm 5000
"$lua" "$here/soft_kinds_cycle.lua" "$tmp" 2000

echo "== read/write locks and semaphores"
"$lua" "$here/rw_cycle.lua" "$tmp" 100000 "$rounds"

echo "== waiter CPU while the lock stays held"
"$lua" "$here/idle_cpu.lua" "$tmp/idle.lock" "${IDLE_SECONDS:-10}"
