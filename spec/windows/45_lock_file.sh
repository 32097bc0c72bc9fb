# Sourced by run.sh: baton.lock_file on a file opened with io.open (LockFileEx on byte 0 of
# its handle) across wine processes, against the flock kind and msvcrt _locking.
fdpeer() { onwine "$lua" spec/windows/fdlock_peer.lua "$@"; }
fdlock="$dir/fd.lock"
fdhold() { # fdhold OUT READY GO PEER-ARGS...: a holder in the background, ready
  out=$1 ready=$2; shift 2
  background "$out" "$wine" "$lua" "$@"
  wait_file "$ready"
}
fddone() { # fddone GO: let the holders go, wait for them
  touch "$1"
  wait $pids 2>/dev/null
  pids=
}

echo "== baton.lock_file in one wine process, others trying"
fdhold "$dir/fdholder.out" "$dir/fdready1" spec/windows/fdlock_peer.lua hold "$fdlock" "$dir/fdready1" "$dir/fdgo1"
check "try_lock while another process holds the file through lock_file" "$(peer try "$fdlock")" busy
check "try_lock_file while another process holds the file through lock_file" "$(fdpeer try "$fdlock")" busy
check "msvcrt _locking while another process holds the file through lock_file" \
  "$(onwine "$locking" try "$fdlock")" busy
set -- $(fdpeer wait "$fdlock" 1.0)
check "a 1 s timeout of try_lock_file gives up with the timeout code" "${1:-}" timeout
if within "${2:-0}" 0.95 3; then check "the timeout waited about 1 s ($2 s)" 1 1
else check "the timeout waited about 1 s" "${2:-none} s" "0.95 to 3 s"; fi
fdhold "$dir/fdwaiter.out" "$dir/fdwaiting1" spec/windows/fdlock_peer.lua wait "$fdlock" forever "$dir/fdwaiting1"
sleep 1
fddone "$dir/fdgo1"
set -- $(cat "$dir/fdwaiter.out")
check "lock_file without a deadline got the lock after the release" "${1:-}" ok
if within "${2:-0}" 0.5 30; then check "it waited for the release (${2} s)" 1 1
else check "it waited for the release" "${2:-none} s" "0.5 to 30 s"; fi
check "the release leaves the file open and usable" "$(cat "$dir/fdholder.out")" "released written"
check "what was written after the release is in the file" "$(tr -d '\r' <"$fdlock")" "after the release"
check "try_lock_file after the release" "$(fdpeer try "$fdlock")" ok

echo "== another process's lock, try_lock_file trying"
fdhold "$dir/fdflock.out" "$dir/fdready2" spec/windows/peer.lua hold "$fdlock" "$dir/fdready2" "$dir/fdgo2"
check "try_lock_file while another process holds a flock lock" "$(fdpeer try "$fdlock")" busy
check "a shared try_lock_file while another process holds it exclusively" "$(fdpeer try "$fdlock" shared)" busy
fddone "$dir/fdgo2"
background "$dir/fdlocking.out" "$wine" "$locking" hold "$fdlock" "$dir/fdready3" "$dir/fdgo3"
wait_file "$dir/fdready3"
check "try_lock_file while a _locking program holds the byte" "$(fdpeer try "$fdlock")" busy
fddone "$dir/fdgo3"
check "try_lock_file after the _locking program unlocked" "$(fdpeer try "$fdlock")" ok

echo "== shared lock_file locks"
fdhold "$dir/fdshared.out" "$dir/fdready4" spec/windows/fdlock_peer.lua hold "$fdlock" "$dir/fdready4" "$dir/fdgo4" shared
check "a shared try_lock_file beside another process's shared lock_file" "$(fdpeer try "$fdlock" shared)" ok
check "a shared flock try_lock beside it" "$(peer try "$fdlock" shared)" ok
check "an exclusive try_lock_file beside it" "$(fdpeer try "$fdlock")" busy
fddone "$dir/fdgo4"

echo "== the file's own life"
check "closing the file: the lock is not held, and the file is free" "$(fdpeer closed "$fdlock")" "not held ok"
check "<close> releases, and leaves the file open" "$(fdpeer close "$fdlock")" "busy ok open"
check "a collected lock object releases, and leaves the file open" "$(fdpeer gc "$fdlock")" "busy ok open"
check "byte ranges and exec_holding raise, naming what is not built" "$(fdpeer unavailable "$fdlock")" \
  "refused refused refused refused"
