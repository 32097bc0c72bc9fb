# Sourced by run.sh: baton.exe as `make install PLATFORM=windows` lays it out: `baton lock`
# (the lock held while the command runs, its exit code, -n, -w, -s, -c, the command ended and
# the lock freed when baton.exe is killed), `baton status` and `baton break` on another
# process's lock, scripts. The commands are host_peer.exe (spec/windows/host_peer.c), cmd.exe
# and peer.lua.
if [ -n "$prefix" ]; then
  echo "== baton.exe lock"
  baton="$prefix/bin/baton.exe"
  hpeer="$build/host_peer.exe"
  hlock="$dir/host.lock"
  bat() { onwine "$baton" "$@"; }
  bat_rc() { "$wine" "$baton" "$@" >"$dir/bat.out" 2>&1; rc=$?; tr -d '\r' <"$dir/bat.out"; echo "rc $rc"; }
  bat_status() { "$wine" "$baton" "$@" >/dev/null 2>&1; echo $?; }
  seconds() { date +%s.%N; }
  elapsed() { awk -v a="$1" -v b="$(seconds)" 'BEGIN { printf "%.2f", b - a }'; }

  check "the command runs holding the lock (a peer's try_lock is busy)" \
    "$(bat lock "$hlock" "$lua" spec/windows/peer.lua try "$hlock")" busy
  check "free again once the command ended" "$(peer try "$hlock")" ok
  check "baton lock exits with the command's exit code" "$(bat_status lock "$hlock" "$hpeer" exit 7)" 7
  check "-- before the command" "$(bat_status lock "$hlock" -- "$hpeer" exit 3)" 3
  check "-c runs the command through cmd.exe" "$(bat_rc lock "$hlock" -c "echo one two& exit 5")" \
    "one two
rc 5"
  check "the command's arguments reach it as they were given" \
    "$(bat lock "$hlock" "$hpeer" argv 'a b' 'c"d' 'e\' '' 'x\\"y' 'p\q' | tr '\n' ' ')" \
    '[a b] [c"d] [e\] [] [x\\"y] [p\q] '
  check "a command that cannot be run: 69" "$(bat_status lock "$hlock" no-such-program-here)" 69
  check "a lock file in a missing folder: 66" "$(bat_status lock "$dir/no/such/x.lock" "$hpeer" exit 0)" 66

  background "$dir/hostholder.out" "$wine" "$lua" spec/windows/peer.lua hold "$hlock" "$dir/hready1" "$dir/hgo1"
  wait_file "$dir/hready1"
  t0=$(seconds)
  check "-n on a held lock: the conflict code 1" "$(bat_status lock -n "$hlock" "$hpeer" exit 0)" 1
  tn=$(elapsed "$t0")
  check "-n -E 9 on a held lock: 9" "$(bat_status lock -n -E 9 "$hlock" "$hpeer" exit 0)" 9
  check "--nonblock --conflict-exit-code=4" "$(bat_status lock --nonblock --conflict-exit-code=4 "$hlock" "$hpeer" exit 0)" 4
  t0=$(seconds)
  check "-w 1 on a held lock gives up: 1" "$(bat_status lock -w 1 "$hlock" "$hpeer" exit 0)" 1
  tw=$(elapsed "$t0")
  if within "$tw" 0.95 5; then check "-w 1 waited about 1 s (${tw} s)" 1 1
  else check "-w 1 waited about 1 s" "$tw s" "0.95 to 5 s"; fi
  if awk -v n="$tn" -v w="$tw" 'BEGIN { exit !(n < w - 0.5) }'; then check "-n gave up at once (${tn} s)" 1 1
  else check "-n gave up at once" "$tn s" "under -w 1's $tw s less 0.5 s"; fi
  touch "$dir/hgo1"
  wait $pids 2>/dev/null
  pids=

  background "$dir/hostshared.out" "$wine" "$lua" spec/windows/peer.lua hold "$hlock" "$dir/hready2" "$dir/hgo2" shared
  wait_file "$dir/hready2"
  check "-s beside another process's shared lock runs the command" "$(bat_status lock -s -n "$hlock" "$hpeer" exit 0)" 0
  check "-x beside another process's shared lock gives up" "$(bat_status lock -x -n "$hlock" "$hpeer" exit 0)" 1
  touch "$dir/hgo2"
  wait $pids 2>/dev/null
  pids=

  echo "== baton.exe lock killed"
  background "$dir/hkill.out" "$wine" "$baton" lock "$hlock" "$hpeer" hold_child "$dir/hready3" 60
  wait_file "$dir/hready3"
  set -- $(cat "$dir/hready3")
  child=$1 parent=$2
  check "while the command runs the lock is held" "$(peer try "$hlock")" busy
  winkill "$parent"
  wait $pids 2>/dev/null
  pids=
  state_of "$child" 10
  check "killing baton.exe ends the command (its job object)" "$state" gone
  check "killing baton.exe frees the lock" "$(peer try "$hlock")" ok
  check "the command did not run on" "$(cat "$dir/hkill.out")" ""

  echo "== Ctrl-C in baton.exe lock's console"
  # host_peer console: a console of its own; host_peer ctrl_c sends Ctrl-C to it, takes it
  # and exits 42 later: baton.exe must let it through and wait for it
  check "Ctrl-C reaches the command, baton.exe waits for it and exits with its code" \
    "$(timeout 120 "$wine" "$hpeer" console "$baton" lock "$hlock" "$hpeer" ctrl_c | tr -d '\r')" "exit 42"
  # a script: Ctrl-C unwinds it (its <close> runs after its children were stopped), 130
  cat >"$dir/ctrl_c.lua" <<'LUA'
local baton = require "baton"
local peer, out = arg[1], arg[2]
local p = assert(baton.spawn{ peer, "ctrl_c" })
do
  local c <close> = setmetatable({}, { __close = function()
    local f = assert(io.open(out, "w"))
    f:write("closed, child running: ", tostring(p:running()))
    f:close()
  end })
  p:wait()
end
print("not interrupted")
LUA
  rm -f "$dir/ctrl_c.out"
  check "Ctrl-C interrupts a script: exit 130" \
    "$(timeout 120 "$wine" "$hpeer" console "$baton" "$dir/ctrl_c.lua" "$hpeer" "$dir/ctrl_c.out" | tr -d '\r')" "exit 130"
  check "the script unwound: its <close> ran after its child was stopped" "$(cat "$dir/ctrl_c.out" 2>&1)" \
    "closed, child running: false"

  # Ctrl-C while the script waits in the system: the waits the interrupt event ends. A
  # child sends it 2 s after its start; a wait left to end by itself would take 20 s.
  cat >"$dir/ctrl_c_wait.lua" <<'LUA'
local baton = require "baton"
local peer, out, what, path = arg[1], arg[2], arg[3], arg[4]
local sender = assert(baton.spawn{ peer, "ctrl_c", "2" })
do
  local c <close> = setmetatable({}, { __close = function()
    local f = assert(io.open(out, "w"))
    f:write("closed")
    f:close()
  end })
  if what == "baton.lock" then
    baton.lock(path) -- held elsewhere for 20 s; no timeout: the system's wait
  else
    local p = assert(baton.spawn{ peer, "deaf", "20" }) -- Ctrl-C does not end it
    p:wait()
  end
end
print("not interrupted", sender:running())
LUA
  ctrl_c_wait() { # WHAT: Ctrl-C in that wait gives 130 within 12 s, the <close> ran
    rm -f "$dir/ctrl_c_wait.out"
    t0=$(seconds)
    got=$(timeout 120 "$wine" "$hpeer" console "$baton" "$dir/ctrl_c_wait.lua" "$hpeer" \
      "$dir/ctrl_c_wait.out" "$1" "$hlock" | tr -d '\r')
    tc=$(elapsed "$t0")
    check "Ctrl-C in $1's wait: exit 130" "$got" "exit 130"
    if within "$tc" 0 12; then check "Ctrl-C in $1's wait ends it at once (${tc} s)" 1 1
    else check "Ctrl-C in $1's wait ends it at once" "$tc s" "under 12 s"; fi
    check "Ctrl-C in $1's wait: the <close> ran" "$(cat "$dir/ctrl_c_wait.out" 2>&1)" closed
  }
  background "$dir/ctrlcholder.out" "$wine" "$lua" spec/windows/peer.lua hold "$hlock" "$dir/cready" "$dir/cgo"
  wait_file "$dir/cready"
  ( sleep 20; touch "$dir/cgo" ) &
  pids="$pids $!"
  ctrl_c_wait baton.lock
  touch "$dir/cgo"
  wait $pids 2>/dev/null
  pids=
  ctrl_c_wait p:wait

  echo "== baton.exe status and scripts"
  background "$dir/statusholder.out" "$wine" "$lua" spec/windows/peer.lua hold "$hlock" "$dir/sready" "$dir/sgo"
  wait_file "$dir/sready"
  out=$(bat_rc status "$hlock")
  case $out in
    *"held   flock  exclusive"*"peer.lua hold"*"rc 1") check "baton status names another process's flock lock, its command, 1" 1 1 ;;
    *) check "baton status names another process's flock lock, its command, 1" "$out" "held flock exclusive ... peer.lua hold ... rc 1" ;;
  esac
  case $(bat_rc break "$hlock") in
    *"is a flock lock held by pid "*"rc 1") check "baton break leaves a flock lock to its holder, 1" 1 1 ;;
    *) check "baton break leaves a flock lock to its holder, 1" "$(bat_rc break "$hlock")" "... is a flock lock held by pid ... rc 1" ;;
  esac
  touch "$dir/sgo"
  wait $pids 2>/dev/null
  pids=
  case $(bat_rc status "$hlock") in
    *"  free"*"rc 0") check "baton status: free once released, 0" 1 1 ;;
    *) check "baton status: free once released, 0" "$(bat_rc status "$hlock")" "... free ... rc 0" ;;
  esac
  check "baton.exe lock -v: a clear refusal, 64" \
    "$(bat lock -v "$hlock" "$hpeer" exit 0 | head -1)" \
    "baton lock: this form of baton lock is not available on Windows yet; there it takes FILE [--] COMMAND [ARGS...] or FILE -c 'command', with -s, -x, -n, -w and -E"
  rm -f "$dir"/lone*
  check "an argument that is not valid UTF-16: refused, naming its place, 64" \
    "$(onwine "$hpeer" lone "$baton" lock "$dir/lone?.lock" "$hpeer" exit 0)" \
    "baton: argument 2 is not valid UTF-16 (an unpaired surrogate): it cannot be passed on as UTF-8
exit 64"
  check "... and no lock file was made under another name" "$(ls "$dir" | grep -c '^lone')" 0
  printf 'local b = require "baton"\nlocal l = b.lock(arg[1])\nprint(l:is_locked(), select(2, ...))\nl:release()\n' >"$dir/script.lua"
  check "baton.exe SCRIPT.lua runs it with baton built in and its arguments" \
    "$(unset LUA_PATH LUA_CPATH; onwine "$baton" "$dir/script.lua" "$hlock" x y)" \
    "true	x	y"
  check "baton.exe -e" "$(bat -e 'print(require("baton.core").platform.name)')" windows
fi
