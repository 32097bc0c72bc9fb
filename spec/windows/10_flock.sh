# Sourced by run.sh: the flock kind across wine processes and against msvcrt _locking.
echo "== baton's lock in one wine process, others trying"
background "$dir/holder.out" "$wine" "$lua" spec/windows/peer.lua hold "$lock" "$dir/ready1" "$dir/go1"
wait_file "$dir/ready1"
check "try_lock while another process holds it" "$(peer try "$lock")" busy
check "a shared try_lock while another process holds it exclusively" "$(peer try "$lock" shared)" busy
check "msvcrt _locking while baton holds it" "$(onwine "$locking" try "$lock")" busy
set -- $(peer wait "$lock" 1.0)
check "a 1 s timeout gives up with the timeout code" "$1" timeout
if within "$2" 0.95 3; then check "the timeout waited about 1 s ($2 s)" 1 1
else check "the timeout waited about 1 s" "$2 s" "0.95 to 3 s"; fi

echo "== release lets the waiting process in"
background "$dir/waiter.out" "$wine" "$lua" spec/windows/peer.lua wait "$lock" 60 "$dir/waiting1"
wait_file "$dir/waiting1"
sleep 1
touch "$dir/go1"
wait $pids 2>/dev/null
pids=
check "the holder released" "$(cat "$dir/holder.out")" released
set -- $(cat "$dir/waiter.out")
check "the waiter got the lock after the release" "${1:-}" ok
if within "${2:-0}" 0.5 30; then check "the waiter waited for it (${2} s)" 1 1
else check "the waiter waited for the release" "${2:-none} s" "0.5 to 30 s"; fi
check "free again afterwards" "$(peer try "$lock")" ok

echo "== a program locking with msvcrt _locking, baton trying"
lock2="$dir/two.lock"
background "$dir/locking.out" "$wine" "$locking" hold "$lock2" "$dir/ready2" "$dir/go2"
wait_file "$dir/ready2"
check "try_lock while a _locking program holds the byte" "$(peer try "$lock2")" busy
touch "$dir/go2"
wait $pids 2>/dev/null
pids=
check "try_lock after it unlocked" "$(peer try "$lock2")" ok

echo "== shared locks"
background "$dir/shared.out" "$wine" "$lua" spec/windows/peer.lua hold "$lock" "$dir/ready3" "$dir/go3" shared
wait_file "$dir/ready3"
check "a shared lock beside another process's shared lock" "$(peer try "$lock" shared)" ok
check "an exclusive lock beside another process's shared lock" "$(peer try "$lock")" busy
touch "$dir/go3"
wait $pids 2>/dev/null
pids=

