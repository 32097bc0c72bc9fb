# Sourced by run.sh: baton.holder across wine processes (holder records, soft markers).
echo "== holders"
hfile="$dir/held.lock"
background "$dir/hflock.out" "$wine" "$lua" spec/windows/soft_peer.lua flock_hold "$hfile" "$dir/hready1" "$dir/hgo1" nightly
wait_file "$dir/hready1"
hpid=$(tr -d '\r\n' <"$dir/hready1")
check "baton.holder names another process's flock lock from its record: pid, note, command line, start" \
  "$(softpeer holder "$hfile")" "flock $hpid nightly cmdline started"
touch "$dir/hgo1"
wait $pids 2>/dev/null
pids=
check "and says free once it is let go (the record goes with the lock)" \
  "$(cat "$dir/hflock.out") $(softpeer holder "$hfile")" "released free"
background "$dir/hsoft.out" "$wine" "$lua" spec/windows/soft_peer.lua soft_hold "$dir/hsoft.lock" "$dir/hready2" "$dir/hgo2" building
wait_file "$dir/hready2"
hpid=$(tr -d '\r\n' <"$dir/hready2")
check "baton.holder names another process's soft lock from its marker, with its record's note" \
  "$(softpeer holder "$dir/hsoft.lock")" "soft $hpid building cmdline started"
touch "$dir/hgo2"
wait $pids 2>/dev/null
pids=
killable "$dir/hkill.out" "$wine" "$lua" spec/windows/soft_peer.lua flock_hold "$dir/hkill.lock" "$dir/hready3" "$dir/hgo3" doomed
wait_file "$dir/hready3"
hpid=$(tr -d '\r\n' <"$dir/hready3")
before=$(softpeer holder "$dir/hkill.lock")
kill -9 "$peer_pid"
wait "$peer_pid" 2>/dev/null
check "a killed flock holder's record goes with it" "$before / $(softpeer holder "$dir/hkill.lock")" \
  "flock $hpid doomed cmdline started / free"
: >"$dir/free.lock"
check "baton.holder says free for a free file, and for a missing one" \
  "$(softpeer holder "$dir/free.lock") $(softpeer holder "$dir/missing.lock")" "free free"
check "and says what Windows cannot tell" "$(softpeer unknown "$dir/own.lock")" \
  "flock holders other than baton processes (no kernel lock table)	false"
