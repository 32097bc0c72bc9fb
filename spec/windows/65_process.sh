# Sourced by run.sh: baton.spawn, baton.run and baton.jobs on Windows processes (their
# peer: spec/windows/process_peer.lua, its commands host_peer.exe, lua.exe and cmd.exe).
echo "== baton.spawn, baton.run, baton.jobs"
hpeer="$build/host_peer.exe"
pp() { m=$1; shift; onwine "$lua" spec/windows/process_peer.lua "$m" "$hpeer" "$@"; }
tab=$(printf '\t')
check "spawn and wait: the exit code" "$(pp exit)" "7${tab}nil"
set -- $(pp wait_timeout)
check "wait(0.3) on a command that runs on: timeout" "${1:-} ${2:-}" "nil timeout"
if within "${3:-0}" 0.29 2; then check "the wait lasted about 0.3 s (${3} s)" 1 1
else check "the wait lasted about 0.3 s" "${3:-none} s" "0.29 to 2 s"; fi
check "kill: 143 and signal 15, no longer running, a second kill ESRCH" "$(pp kill)" "143${tab}15${tab}false${tab}ESRCH"
check "run captures stdout; the arguments arrive as given" "$(pp argv)" \
  "true${tab}0${tab}[a b]|[c\"d]|[e\\]|[]|[x\\\\\"y]|[p\\q]|"
check "run's timeout ends the command" "$(pp run_timeout)" "nil${tab}timeout${tab}true"
check "spawn of no such program: ENOENT" "$(pp missing)" \
  "nil${tab}ENOENT${tab}baton.spawn: cannot run 'no-such-program-here': No such file or directory"
check "run feeds stdin through a pipe (2 MB; a text)" "$(pp input "$lua")" "2000000${tab}AB|CD|"
check "env sets and removes variables; cwd" "$(pp env_cwd "$lua" 'Z:\tmp')" "set here -${tab}Z:\\tmp|"
printf 'local h, msg, code = require("baton.core").spawn({ arg[1], "exit", "0" }, { "" }, nil, nil, nil, nil, nil, nil, nil, false)\nprint(h and "spawned" or code)\n' >"$dir/empty_env.lua"
check "an empty environment entry: EINVAL" "$(onwine "$lua" "$dir/empty_env.lua" "$hpeer")" EINVAL
rm -f "$dir/files.out"
check "stdout into a file, stderr with it, stdin from NUL" "$(pp files "$lua" "$dir/files.out")" \
  "true${tab}0${tab}out err"
check "shell = true runs a cmd.exe line" "$(pp shell)" "false${tab}3${tab}one two|"
check "three jobs' commands run at once" "$(pp jobs)" "true${tab}1,2,3${tab}true"
check "keep_fds: not available on Windows yet" "$(pp keep_fds)" \
  "false${tab}baton.spawn's option 'keep_fds' is not available on Windows yet"
touch "$dir/inherit.txt"
check "a child inherits its standard handles only (not a file io.open made)" "$(pp inherit "$dir/inherit.txt")" true
check "a die_with_parent child runs on when its process object is collected" "$(pp gc)" "running|"

rm -f "$dir/orphan.ready" "$dir/orphan.polled"
killable "$dir/sweep.out" "$wine" "$lua" spec/windows/process_peer.lua sweep "$hpeer" "$dir/orphan.ready" "$dir/orphan.polled"
wait_file "$dir/orphan.polled"
set -- $(cat "$dir/orphan.ready")
state_of "$1"
check "a die_with_parent child let go while it ran is freed by a later poll (what it left in its job ends)" "$state" gone
kill "$peer_pid" 2>/dev/null
winkill "$1"
wait $pids 2>/dev/null
pids=

echo "== die_with_parent"
for how in yes no; do
  rm -f "$dir/pready.$how"
  # into a file, not through background's pipe: under wine a child's unix process keeps
  # its parent's unix descriptors, and a pipe would stay open while the child lives
  "$wine" "$lua" spec/windows/process_peer.lua die "$hpeer" "$dir/pready.$how" "$how" >"$dir/pdie.$how" 2>&1 &
  pids="$pids $!"
  wait_file "$dir/pready.$how"
  set -- $(cat "$dir/pready.$how")
  child=$1 parent=$2
  winkill "$parent"
  wait $pids 2>/dev/null
  pids=
  state_of "$child"
  if [ "$how" = yes ]; then
    check "die_with_parent = true: the child ends when its parent is killed" "$state" gone
  else
    check "without die_with_parent the child outlives its parent" "$state" running
    winkill "$child"
  fi
done
