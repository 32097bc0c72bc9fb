"""A peer process speaking Python filelock's ReadWriteLock protocol (filelock >= 3.21) on an
SQLite lock file, with the standard sqlite3 module: Debian's python3-filelock predates
ReadWriteLock, and the specs need the protocol itself, step by step, as filelock runs it.

    filelock_rw.py PATH read|write TIMEOUT HOLD READY [COUNT]

Takes the lock, waiting up to TIMEOUT seconds (0: one attempt, as blocking=False), writes
"held" to READY, holds the lock HOLD seconds and releases it. Exits 0, or 3 when the lock
was busy until the timeout. With COUNT it repeats until killed, appending a line to COUNT
after every hold, and waits for the lock as long as it takes (a reader in a chain).
"""
import os
import sqlite3
import stat
import sys
import time

BUSY = 3


def open_vetted(path):
    """Open the lock file as filelock does: no symbolic link, no FIFO, never WAL."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
    fd = os.open(path, flags, 0o600)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        sys.exit("not a regular file: " + path)
    header = os.read(fd, 20)
    if header.startswith(b"SQLite format 3\0") and 2 in header[18:20]:
        sys.exit("a WAL-mode database: " + path)
    return fd


def acquire(path, mode, timeout):
    """Returns (connection, descriptor) holding the lock, or None when it stayed busy."""
    fd = open_vetted(path)
    con = sqlite3.connect("/proc/self/fd/%d" % fd, timeout=timeout, cached_statements=0)
    ms = int(timeout * 1000)
    try:
        con.executescript("PRAGMA busy_timeout=%d; PRAGMA journal_mode=MEMORY;" % ms).close()
        if mode == "write":
            con.executescript("BEGIN EXCLUSIVE TRANSACTION;").close()
        else:
            # BEGIN stays deferred until a read: the schema query takes the SHARED lock.
            con.executescript("BEGIN TRANSACTION; SELECT name FROM sqlite_master LIMIT 1;").close()
    except sqlite3.OperationalError as e:
        con.close()
        os.close(fd)
        if "locked" in str(e):
            return None
        raise
    return con, fd


def release(held):
    con, fd = held
    con.rollback()  # the protocol's release: nothing was written
    con.close()
    os.close(fd)


def main():
    path, mode, timeout, hold, ready = sys.argv[1:6]
    timeout, hold = float(timeout), float(hold)
    count = sys.argv[6] if len(sys.argv) > 6 else None
    while True:
        held = acquire(path, mode, 3600.0 if count else timeout)
        if held is None:
            sys.exit(BUSY)
        if ready:
            with open(ready, "w") as f:
                f.write("held")
            ready = None
        time.sleep(hold)
        release(held)
        if not count:
            return
        with open(count, "a") as f:
            f.write("x\n")


main()
