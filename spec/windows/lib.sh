# Sourced by run.sh: the counters and the functions every check file uses.
failed=0 passed=0
pids=

# onwine PROGRAM ARGS...: run it under wine, its output and errors with Unix line ends
onwine() { "$wine" "$@" 2>&1 | tr -d '\r'; }
# the Lua peers (spec/windows/*_peer.lua) under lua.exe
peer() { onwine "$lua" spec/windows/peer.lua "$@"; }
softpeer() { onwine "$lua" spec/windows/soft_peer.lua "$@"; }
rwpeer() { onwine "$lua" spec/windows/rw_peer.lua "$@"; }
# winkill PID: end that Windows process at once
winkill() { "$wine" taskkill /F /PID "$1" >/dev/null 2>&1; }
# state_of PID [LOOKS]: $state "gone" once that Windows process has ended (LOOKS half a
# second apart, 6 unless told), else "running"
state_of() {
  state=running
  for i in $(seq "${2:-6}"); do
    state=$("$wine" "$build/host_peer.exe" alive "$1" | tr -d '\r')
    [ "$state" = gone ] && break
    sleep 0.5
  done
}

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

# killable OUT COMMAND...: start it in the background, its output into OUT (read it with
# outof), its pid in $peer_pid: wine execs the program itself, so that pid is the process
killable() {
  out=$1; shift
  "$@" >"$out" 2>&1 &
  peer_pid=$!
  pids="$pids $peer_pid"
}
outof() { tr -d '\r' <"$1"; }

# the waiter's seconds are within [lo, hi]
within() { awk -v t="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(t >= lo && t <= hi) }'; }

cleanup() { for p in $pids; do kill "$p" 2>/dev/null; done; }
trap cleanup EXIT

