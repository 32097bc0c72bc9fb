# Sourced by run.sh: soft leases and baton.break_lock across wine processes.
echo "== soft leases and breaking"
lease="$dir/lease.lock"
# A holder that lost its lease to a contender reads marker-missing once the contender has let
# it go, owner-changed should its heartbeat look while the contender holds it: both are right.
lost_either() { outof "$1" | sed 's/^lost \(marker-missing\|owner-changed\) /lost /'; }
killable "$dir/lease1.out" "$wine" "$lua" spec/windows/soft_peer.lua lease_hold "$lease" "$dir/lready1" "$dir/lgo1" 1 0.2
wait_file "$dir/lready1"
sleep 2.5
check "a live lease holder keeps its lease past the lease's length" "$(softpeer lease_try "$lease" 1)" busy
check "a contender with another lease length is refused" "$(softpeer lease_try "$lease" 5)" EINVAL
touch "$dir/lgo1"
wait "$peer_pid" 2>/dev/null
check "and still holds it when it lets go, removing its marker" \
  "$(outof "$dir/lease1.out") $([ -e "$lease" ] && echo left || echo gone)" "released gone"

killable "$dir/lease2.out" "$wine" "$lua" spec/windows/soft_peer.lua lease_hold "$lease" "$dir/lready2" "$dir/lgo2" 3
wait_file "$dir/lready2"
check "a lease held by another process is busy" "$(softpeer lease_try "$lease" 3)" busy
kill -9 "$peer_pid"
wait "$peer_pid" 2>/dev/null
set -- $(softpeer lease_wait "$lease" 3 20)
check "a killed lease holder's lease is taken over" "$1" ok
check "within its lease" "$(within "$2" 0 4 && echo yes || echo "no: $2 s")" yes

killable "$dir/lease5.out" "$wine" "$lua" spec/windows/soft_peer.lua lease_hold "$lease" "$dir/lready5" "$dir/lgo5" 2 0.2
wait_file "$dir/lready5"
kill -STOP "$peer_pid" # alive, but its heartbeat stands still
set -- $(softpeer lease_wait "$lease" 2 20)
kill -CONT "$peer_pid"
check "a stopped lease holder's lease is taken once its marker is a lease old" "$1" ok
check "not before" "$(within "$2" 1.5 10 && echo yes || echo "no: $2 s")" yes
touch "$dir/lgo5"
wait "$peer_pid" 2>/dev/null
check "and the holder learns that it lost it" \
  "$(lost_either "$dir/lease5.out")" "lost false nil lost"

killable "$dir/lease3.out" "$wine" "$lua" spec/windows/soft_peer.lua lease_hold "$lease" "$dir/lready3" "$dir/lgo3" 30 0.2
wait_file "$dir/lready3"
check "baton.break_lock breaks another process's lease, naming its holder" \
  "$(softpeer break "$lease")" "broke $(tr -d '\r\n' <"$dir/lready3")"
check "which frees the lock at once" "$(softpeer lease_try "$lease" 30)" ok
sleep 1
touch "$dir/lgo3"
wait "$peer_pid" 2>/dev/null
check "and its holder learns that it lost it" \
  "$(lost_either "$dir/lease3.out")" "lost false nil lost"

killable "$dir/soft6.out" "$wine" "$lua" spec/windows/soft_peer.lua soft_hold "$dir/brk.lock" "$dir/lready4" "$dir/lgo4" note
wait_file "$dir/lready4"
check "baton.break_lock breaks a live process's plain soft lock" \
  "$(softpeer break "$dir/brk.lock")" "broke $(tr -d '\r\n' <"$dir/lready4")"
check "nothing is left to break after that" "$(softpeer break "$dir/brk.lock")" "refused ENOENT"
touch "$dir/lgo4"
wait "$peer_pid" 2>/dev/null
printf 'not a marker\n' >"$dir/brkdata.lock"
check "baton.break_lock never breaks a file that is no marker, nor changes it" \
  "$(softpeer break "$dir/brkdata.lock") / $(cat "$dir/brkdata.lock")" "refused EEXIST / not a marker"
killable "$dir/flock7.out" "$wine" "$lua" spec/windows/soft_peer.lua flock_hold "$dir/brkflock.lock" "$dir/lready7" "$dir/lgo7" note
wait_file "$dir/lready7"
check "baton.break_lock refuses another process's flock lock (its record names it)" \
  "$(softpeer break "$dir/brkflock.lock")" "refused EINVAL"
touch "$dir/lgo7"
wait "$peer_pid" 2>/dev/null
