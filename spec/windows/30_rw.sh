# Sourced by run.sh: read/write locks (SQLite's locks through its win32 VFS) across wine
# processes, the files beside the lock, and the sqlite3 shell as a peer.
rwhold() { # rwhold OUT PATH HOW READY GO
  background "$1" "$wine" "$lua" spec/windows/rw_peer.lua hold "$2" "$3" "$4" "$5"
  wait_file "$4"
}
rwdone() { # rwdone GO: let the holders go, wait for them
  touch "$1"
  wait $pids 2>/dev/null
  pids=
}
rw="$dir/rw.lock"

echo "== read/write locks: a writer in one wine process"
rwhold "$dir/rwwriter.out" "$rw" write "$dir/rwready1" "$dir/rwgo1"
check "a read while another process writes" "$(rwpeer try "$rw" read)" busy
check "a write while another process writes" "$(rwpeer try "$rw" write)" busy
# What lets an attempt skip the look at the path: SQLite's handle shares no deletion.
check "no other process can delete or rename the lock file while a connection is on it" \
  "$(rwpeer remove "$rw")" kept
set -- $(rwpeer wait "$rw" read 1.0)
check "a 1 s timeout gives up with the timeout code" "${1:-}" timeout
if within "${2:-0}" 0.95 3; then check "the timeout waited about 1 s ($2 s)" 1 1
else check "the timeout waited about 1 s" "${2:-none} s" "0.95 to 3 s"; fi
background "$dir/rwwaiter.out" "$wine" "$lua" spec/windows/rw_peer.lua wait "$rw" read 60 "$dir/rwwaiting1"
wait_file "$dir/rwwaiting1"
sleep 1
rwdone "$dir/rwgo1"
check "the writer released" "$(cat "$dir/rwwriter.out")" released
set -- $(cat "$dir/rwwaiter.out")
check "the waiting reader got the lock after the release" "${1:-}" ok
if within "${2:-0}" 0.5 30; then check "the reader waited for it (${2} s)" 1 1
else check "the reader waited for the release" "${2:-none} s" "0.5 to 30 s"; fi

echo "== read/write locks: a reader in one wine process"
rwhold "$dir/rwreader.out" "$rw" read "$dir/rwready2" "$dir/rwgo2"
check "two processes read at once" "$(rwpeer try "$rw" read)" ok
check "a write while another process reads" "$(rwpeer try "$rw" write)" busy
background "$dir/rwwaiter2.out" "$wine" "$lua" spec/windows/rw_peer.lua wait "$rw" write 60 "$dir/rwwaiting2"
wait_file "$dir/rwwaiting2"
sleep 1
check "a new reader waits behind the waiting writer (its PENDING lock)" "$(rwpeer try "$rw" read)" busy
rwdone "$dir/rwgo2"
set -- $(cat "$dir/rwwaiter2.out")
check "the waiting writer got the lock after the reader released" "${1:-}" ok
if within "${2:-0}" 0.5 30; then check "the writer waited for it (${2} s)" 1 1
else check "the writer waited for the release" "${2:-none} s" "0.5 to 30 s"; fi
check "free again afterwards" "$(rwpeer try "$rw" write)" ok
check "<close> releases: another object is kept out inside the scope, let in after it" \
  "$(rwpeer close "$rw")" "busy ok"
check "two objects of one process exclude each other; a wait for the other without a deadline fails at once" \
  "$(rwpeer objects "$rw")" "busy never ok"

echo "== read/write locks: UTF-8 paths"
rwhold "$dir/rwutf8.out" "$dir/@U.lock" write "$dir/rwready3" "$dir/rwgo3"
check "a UTF-8 named lock file is the same lock to another process" "$(rwpeer try "$dir/@U.lock" read)" busy
rwdone "$dir/rwgo3"
check "it was made under its UTF-8 name" \
  "$([ -f "$dir/$(printf 'l\303\244sk\303\266.lock')" ] && echo made)" made

echo "== read/write locks: the files"
check "no journal, WAL or shm file beside a lock file locked and released" \
  "$(cd "$dir" && ls rw.lock* | tr '\n' ' ')" "rw.lock "
check "the lock file is still empty" "$(wc -c <"$rw" | tr -d ' ')" 0
# A database with a crashed writer's (hot) journal and a stale WAL file beside it: SQLite's
# own VFS would play the journal back and delete the WAL file; baton's changes nothing.
db="$dir/data.db"
python3 - "$db" <<'EOF'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("CREATE TABLE t(x)")
c.execute("INSERT INTO t VALUES ('data')")
c.commit()
c.close()
EOF
printf 'journal of a writer that crashed\n' >"$db-journal"
printf 'a stale WAL file\n' >"$db-wal"
sums=$(cd "$dir" && sha256sum data.db data.db-journal data.db-wal)
rwhold "$dir/rwdb.out" "$db" read "$dir/rwready4" "$dir/rwgo4"
check "a database with a journal beside it: two processes read" "$(rwpeer try "$db" read)" ok
check "and a write waits for the reader" "$(rwpeer try "$db" write)" busy
rwdone "$dir/rwgo4"
check "and a writer gets it after" "$(rwpeer try "$db" write)" ok
check "the database, its journal and the WAL file are unchanged, byte for byte" \
  "$(cd "$dir" && sha256sum data.db data.db-journal data.db-wal)" "$sums"
check "and nothing else appeared beside them" "$(cd "$dir" && ls data.db* | tr '\n' ' ')" \
  "data.db data.db-journal data.db-wal "
printf 'somebody else'"'"'s data, not a database\n' >"$dir/foreign.rw"
check "a file that is no SQLite database is refused with EINVAL" "$(rwpeer try "$dir/foreign.rw" read)" EINVAL
check "and left as it was" "$(cat "$dir/foreign.rw")" "somebody else's data, not a database"
python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("PRAGMA journal_mode=WAL"); c.execute("CREATE TABLE t(x)"); c.close()' \
  "$dir/wal.db"
walsum=$(sha256sum <"$dir/wal.db")
check "a WAL database is refused with EINVAL" "$(rwpeer try "$dir/wal.db" write)" EINVAL
check "and left as it was" "$(sha256sum <"$dir/wal.db")" "$walsum"
mkdir -p "$dir/folder.rw"
check "a folder is refused with EISDIR" "$(rwpeer try "$dir/folder.rw" read)" EISDIR

echo "== read/write locks: cycle time"
set -- $(rwpeer cycles "$dir/cycle.lock" 2000)
echo "     read cycle ${1:-?} us, write cycle ${2:-?} us (lua.exe under wine)"
check "the cycles ran" "$([ -n "${2:-}" ] && echo ran)" ran

sqlite="$build/sqlite3.exe"
echo "== read/write locks: the sqlite3 shell"
check "the sqlite3 shell is built" "$([ -f "$sqlite" ] && echo built)" built
sq="$dir/shell.lock"
: >"$sq"
( { printf 'BEGIN EXCLUSIVE;\n.once %s\nSELECT 1;\n' "$dir/sqready"
    while [ ! -e "$dir/sqgo" ]; do sleep 0.1; done
    printf 'ROLLBACK;\n'; } | "$wine" "$sqlite" "$sq" >"$dir/sq.out" 2>&1 ) &
pids="$pids $!"
wait_file "$dir/sqready"
check "the sqlite3 shell's BEGIN EXCLUSIVE keeps baton's reader out" "$(rwpeer try "$sq" read)" busy
check "and baton's writer" "$(rwpeer try "$sq" write)" busy
rwdone "$dir/sqgo"
check "baton reads once the shell rolled back" "$(rwpeer try "$sq" read)" ok
rwhold "$dir/rwsq.out" "$sq" read "$dir/rwready5" "$dir/rwgo5"
check "baton's reader keeps the shell's BEGIN EXCLUSIVE out" \
  "$(printf 'BEGIN EXCLUSIVE;\n' | onwine "$sqlite" "$sq" | grep -c 'database is locked')" 1
rwdone "$dir/rwgo5"
