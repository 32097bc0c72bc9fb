# Sourced by run.sh: how soon a waiter with a deadline in one wine process gets a lock another
# releases, and that its timeout still ends the wait on time. The peers are
# spec/windows/wait_peer.lua (hand-off rounds) and peer.lua (holders).
echo "== waits with a deadline across wine processes"

# to_file OUT PEER-ARGS...: wait_peer.lua's output into OUT, through a file: the CPU check
# below counts every child of its shell, so nothing runs beside the peer
to_file() {
  out=$1; shift
  "$wine" "$lua" spec/windows/wait_peer.lua "$@" >"$out.raw" 2>&1
  tr -d '\r' <"$out.raw" >"$out"
}

# gaps KIND ROUNDS [SEP]: ROUNDS hand-offs from a holder process to a waiter process with a
# 30 s timeout, each released 0.1 s after the waiter began to wait, on the lock lock/x.lock
# (SEP between the two, default /). Prints how many the waiter got, then the median and the
# largest gap from release to acquisition, in ms (both processes read
# QueryPerformanceCounter, one clock for all).
gaps() {
  w="$dir/gaps-$1"
  rm -rf "$w" && mkdir -p "$w/sync" "$w/lock"
  to_file "$w/holder.out" hold "$1" "$w/lock${3:-/}x.lock" "$w/sync" "$2" 0.1 &
  holder=$!
  to_file "$w/waiter.out" wait "$1" "$w/lock${3:-/}x.lock" "$w/sync" "$2" 30
  wait $holder
  paste "$w/holder.out" "$w/waiter.out" |
    awk '$2 ~ /^[0-9.]+$/ && $1 ~ /^[0-9.]+$/ { print ($2 - $1) * 1000 }' | sort -n |
    awk '{ a[NR] = $1 } END { if (NR == 0) print 0, 1e9, 1e9; else printf "%d %.3f %.3f\n", NR, a[int((NR + 1) / 2)], a[NR] }'
}

set -- $(gaps flock 15)
check "flock: the waiter got the lock in every round" "$1" 15
if within "$3" 0 300; then check "flock: every hand-off within 0.3 s of the release (median $2 ms, largest $3 ms)" 1 1
else check "flock: every hand-off within 0.3 s of the release" "largest $3 ms" "at most 300 ms"; fi
# woken by the holder's release event, not found by attempts up to 10 ms apart
if within "$2" 0 3; then check "flock: the median hand-off within 3 ms ($2 ms): woken by the release event" 1 1
else check "flock: the median hand-off within 3 ms: woken by the release event" "$2 ms" "at most 3 ms"; fi

# a semaphore's slots are lock files of the flock kind: woken the same way
set -- $(gaps semaphore 15)
check "semaphore: the waiter got the slot in every round" "$1" 15
if within "$2" 0 3; then check "semaphore: the median hand-off within 3 ms ($2 ms, largest $3 ms): woken by the release event" 1 1
else check "semaphore: the median hand-off within 3 ms: woken by the release event" "$2 ms" "at most 3 ms"; fi

# the marker's folder told by a backslash, as Windows paths are written
set -- $(gaps soft 15 '\')
check "soft: the waiter got the lock in every round" "$1" 15
if within "$3" 0 300; then check "soft: every hand-off within 0.3 s of the release (largest $3 ms)" 1 1
else check "soft: every hand-off within 0.3 s of the release" "largest $3 ms" "at most 300 ms"; fi
# woken by the marker leaving its folder, not found by attempts up to 10 ms apart
if within "$2" 0 5; then check "soft: the median hand-off within 5 ms ($2 ms): woken by the marker's removal" 1 1
else check "soft: the median hand-off within 5 ms: woken by the marker's removal" "$2 ms" "at most 5 ms"; fi

soft="$dir/waits/soft.lock"
mkdir -p "$dir/waits"
background "$dir/waits/holder.out" "$wine" "$lua" spec/windows/peer.lua soft_hold "$soft" "$dir/waits/ready" "$dir/waits/go"
wait_file "$dir/waits/ready"
# cpu_of CMD...: the CPU seconds (user and system) of CMD's children, from `times`' second
# line; to_file runs nothing beside the peer, so they are the peer's, wine's start-up included
cpu_of() {
  ( "$@"; times ) | awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); print u[1] * 60 + u[2] + s[1] * 60 + s[2] }'
}
quiet=$(cpu_of to_file "$dir/waits/timeout1" timeout soft "$soft" 3.0 "$dir/waits/started")
set -- $(cat "$dir/waits/timeout1")
check "soft: a 3 s timeout gives up with the timeout code" "${1:-}" timeout
if within "${2:-0}" 2.95 3.5; then check "soft: it waited about 3 s (${2} s)" 1 1
else check "soft: the timeout waited about 3 s" "${2:-none} s" "2.95 to 3.5 s"; fi
# other names coming and going in the folder wake the waiter, which looks and waits on
to_file "$dir/waits/churn.out" churn "$dir/waits" "$dir/waits/churning" "$dir/waits/stop" &
churn=$!
wait_file "$dir/waits/churning"
busy=$(cpu_of to_file "$dir/waits/timeout2" timeout soft "$soft" 3.0 "$dir/waits/started2")
touch "$dir/waits/stop"
wait $churn
set -- $(cat "$dir/waits/timeout2")
check "soft: with other names changing in its folder, a 3 s timeout still gives up" "${1:-}" timeout
if within "${2:-0}" 2.95 3.5; then check "soft: it waited about 3 s (${2} s)" 1 1
else check "soft: the timeout among changes waited about 3 s" "${2:-none} s" "2.95 to 3.5 s"; fi
# a change that is not the marker's leaving costs one look, not an attempt, once a pause: the
# busy folder adds little to what the same wait costs in a quiet one
extra=$(awk -v b="${busy:-9}" -v q="${quiet:-0}" 'BEGIN { printf "%.2f", b - q }')
what="soft: while $(cat "$dir/waits/churn.out") names came and went in its folder, the waiter's CPU"
if within "$extra" -1 0.1; then check "$what grew little (${busy} s against ${quiet} s in a quiet one)" 1 1
else check "$what grew little" "${busy:-none} s against ${quiet:-none} s" "at most 0.1 s more"; fi
touch "$dir/waits/go"
wait $pids 2>/dev/null
pids=
check "soft: the holder kept its lock through both waits" "$(cat "$dir/waits/holder.out")" released
