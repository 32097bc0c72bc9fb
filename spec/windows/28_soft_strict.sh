# Sourced by run.sh: strict soft locks (filelock's StrictSoftFileLock) across wine processes.
echo "== strict soft locks"
strict="$dir/strict.lock"
killable "$dir/strict1.out" "$wine" "$lua" spec/windows/soft_peer.lua strict_hold "$strict" "$dir/sready1" "$dir/sgo1"
wait_file "$dir/sready1"
spid=$(tr -d '\r\n' <"$dir/sready1")
check "a strict lock held by another process is busy" "$(softpeer strict_try "$strict")" busy
check "its claims are filelock's: an intent and a held claim, records of filelock-strict-v1" \
  "$(ls "$strict.filelock/claims" | sed 's/-v1-[0-9a-f]\{32\}\.claim$//' | sort | tr '\n' ' ')$(head -n 1 "$strict.filelock/claims/"held-*)" \
  "held intent filelock-strict-v1"
check "the path holds filelock's sentinel" "$(od -An -c "$strict" | tr -s ' ' | tr -d '\n')" \
  " 1 \n f i l e l o c k - s t r i c t - v 1 \0 \n 0 \n"
check "baton.holder names its claimant" "$(softpeer strict_holder "$strict")" "soft $spid strict"
check "a plain soft lock refuses the sentinel" "$(peer soft_try "$strict")" EEXIST
touch "$dir/sgo1"
wait "$peer_pid" 2>/dev/null
check "released, the next one takes it" "$(outof "$dir/strict1.out") $(softpeer strict_try "$strict")" "released ok"

killable "$dir/strict2.out" "$wine" "$lua" spec/windows/soft_peer.lua strict_hold "$strict" "$dir/sready2" "$dir/sgo2"
wait_file "$dir/sready2"
spid=$(tr -d '\r\n' <"$dir/sready2")
kill -9 "$peer_pid"
wait "$peer_pid" 2>/dev/null
check "a killed holder's strict lock is never taken over (it fails closed)" "$(softpeer strict_try "$strict")" busy
check "baton.break_lock breaks it, naming the claimant" "$(softpeer break "$strict")" "broke $spid"
check "and then it is free" "$(softpeer strict_try "$strict") $(softpeer strict_holder "$strict")" "ok free"
