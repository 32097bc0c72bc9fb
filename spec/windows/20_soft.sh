# Sourced by run.sh: soft locks across wine processes.
echo "== soft locks"
soft="$dir/soft.lock"
background "$dir/softholder.out" "$wine" "$lua" spec/windows/peer.lua soft_hold "$soft" "$dir/ready4" "$dir/go4"
wait_file "$dir/ready4"
check "a live holder's marker is never taken" "$(peer soft_try "$soft")" busy
check "the marker is in filelock's format: pid, host, start token" \
  "$(awk 'END { print NR }' "$soft") $(sed -n 1p "$soft" | tr -d 0-9)$(sed -n 3p "$soft" | tr -d 0-9)" "3 "
touch "$dir/go4"
wait $pids 2>/dev/null
pids=
check "release removes the marker" "$(cat "$dir/softholder.out")" released
background "$dir/abandon.out" "$wine" "$lua" spec/windows/peer.lua soft_abandon "$soft" "$dir/ready5" "$dir/go5"
wait_file "$dir/ready5"
check "a live holder's marker is never taken (its holder exits next)" "$(peer soft_try "$soft")" busy
touch "$dir/go5"
wait $pids 2>/dev/null
pids=
# a marker marked for deletion by the attempt above would be gone with its holder
check "the attempt neither deleted nor marked it: it outlives its holder" "$([ -f "$soft" ] && echo left)" left
check "a gone holder's marker is taken over" "$(peer soft_try "$soft")" "ok gone"
check "a marker whose pid names a process of another start time is taken over" \
  "$(peer soft_recycled "$dir/recycled.lock")" ok
printf 'not a marker\n' >"$dir/foreign.lock"
check "a file that names no owner is never broken" "$(peer soft_try "$dir/foreign.lock")" busy
check "nor changed" "$(cat "$dir/foreign.lock")" "not a marker"
printf '1\nanother-host.example\n' >"$dir/elsewhere.lock"
check "another host's marker is never broken" "$(peer soft_try "$dir/elsewhere.lock")" busy

