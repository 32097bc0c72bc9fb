# Sourced by run.sh: soft read/write locks (filelock's SoftReadWriteLock) across wine processes.
echo "== soft read/write locks"
srw="$dir/srw.lock"
killable "$dir/srw1.out" "$wine" "$lua" spec/windows/soft_peer.lua rw_hold "$srw" "$dir/wready1" "$dir/wgo1" read
wait_file "$dir/wready1"
rpid=$(tr -d '\r\n' <"$dir/wready1")
check "another process's reader lets readers in and keeps writers out" \
  "$(softpeer rw_try "$srw" read) $(softpeer rw_try "$srw" write)" "ok busy"
check "baton.holder names the reader" "$(softpeer rw_holder "$srw")" "soft_rw $rpid read"
touch "$dir/wgo1"
wait "$peer_pid" 2>/dev/null
check "released, a writer gets in" "$(outof "$dir/srw1.out") $(softpeer rw_try "$srw" write)" "released ok"

killable "$dir/srw2.out" "$wine" "$lua" spec/windows/soft_peer.lua rw_hold "$srw" "$dir/wready2" "$dir/wgo2" write
wait_file "$dir/wready2"
wpid=$(tr -d '\r\n' <"$dir/wready2")
check "another process's writer keeps readers and writers out" \
  "$(softpeer rw_try "$srw" read) $(softpeer rw_try "$srw" write)" "busy busy"
check "baton.holder names the writer" "$(softpeer rw_holder "$srw")" "soft_rw $wpid write"
kill -9 "$peer_pid"
wait "$peer_pid" 2>/dev/null
check "a killed writer's marker is evicted at once" "$(softpeer rw_try "$srw" read)" ok
check "and nothing is left held" "$(softpeer rw_holder "$srw")" free

killable "$dir/srw3.out" "$wine" "$lua" spec/windows/soft_peer.lua rw_hold "$srw" "$dir/wready3" "$dir/wgo3" read
wait_file "$dir/wready3"
kill -STOP "$peer_pid" # its heartbeat stands still: its marker grows stale
check "a stopped reader's marker is evicted once stale, and a writer gets in" "$(softpeer rw_try "$srw" write 20)" ok
kill -CONT "$peer_pid"
touch "$dir/wgo3"
wait "$peer_pid" 2>/dev/null
check "and the reader learns that it lost its lock" "$(outof "$dir/srw3.out")" lost
