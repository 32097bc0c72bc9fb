# Sourced by run.sh: semaphores (slot files locked as the flock kind locks, LockFileEx on
# byte 0) across wine processes.
sem="$dir/builds"

echo "== semaphores: 2 slots, two wine processes holding them"
background "$dir/sem1.out" "$wine" "$lua" spec/windows/rw_peer.lua sem_hold "$sem" 2 "$dir/semready1" "$dir/semgo1"
wait_file "$dir/semready1"
background "$dir/sem2.out" "$wine" "$lua" spec/windows/rw_peer.lua sem_hold "$sem" 2 "$dir/semready2" "$dir/semgo2"
wait_file "$dir/semready2"
check "a third process finds both slots held" "$(rwpeer sem_try "$sem" 2)" busy
set -- $(rwpeer sem_wait "$sem" 2 1.0)
check "a 1 s timeout gives up with the timeout code" "${1:-}" timeout
if within "${2:-0}" 0.95 3; then check "the timeout waited about 1 s ($2 s)" 1 1
else check "the timeout waited about 1 s" "${2:-none} s" "0.95 to 3 s"; fi
background "$dir/semwaiter.out" "$wine" "$lua" spec/windows/rw_peer.lua sem_wait "$sem" 2 60 "$dir/semwaiting"
wait_file "$dir/semwaiting"
sleep 1
touch "$dir/semgo1"
i=0
while [ ! -s "$dir/semwaiter.out" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
set -- $(cat "$dir/semwaiter.out")
check "a release lets the waiting third process in" "${1:-}" ok
if within "${2:-0}" 0.5 30; then check "it waited for the release (${2} s)" 1 1
else check "it waited for the release" "${2:-none} s" "0.5 to 30 s"; fi
# its line comes after its release, which may let the waiter in first
i=0
while [ ! -s "$dir/sem1.out" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
check "the first holder had slot 1" "$(cat "$dir/sem1.out")" "released 1"
touch "$dir/semgo2"
wait $pids 2>/dev/null
pids=
check "the second holder had slot 2" "$(cat "$dir/sem2.out")" "released 2"
check "free again afterwards" "$(rwpeer sem_try "$sem" 2)" "ok 1"
check "<close> releases: every slot held inside the scopes, one free after them" \
  "$(rwpeer sem_close "$sem" 2)" "busy ok"
check "the slot files are path.1 and path.2, the path itself is never made" \
  "$(cd "$dir" && ls builds* | tr '\n' ' ')" "builds.1 builds.2 "
mkdir -p "$dir/tests.1"
check "a slot file that cannot be used (a folder) is passed over" "$(rwpeer sem_try "$dir/tests" 2)" "ok 2"
set -- $(rwpeer sem_cycles "$dir/cycle" 4 2000)
echo "     semaphore of 4 slots: acquire+release ${1:-?} us (lua.exe under wine)"
check "the cycles ran" "$([ -n "${1:-}" ] && echo ran)" ran
