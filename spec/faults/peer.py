"""Racing peers for the fault suite, written in Python as the programs baton shares locks with.

    peer.py MODE LOCK DIR ID STOP [SLOTS]

MODE
  unlinker  flock(2) on LOCK (or, with SLOTS, on one of the semaphore's slot files
            LOCK.1 .. LOCK.SLOTS), and on every release unlink the file before unlocking it,
            as Python filelock 3.20.4 to 3.29 did; every other time also create a fresh file
            at the path. After locking it checks that the path still names the file it
            locked, as any peer that unlinks must.
  softlock  Debian's filelock 3.9 SoftFileLock on LOCK (an empty marker, kept open while
            held).
  planter   whenever the soft lock at LOCK is free, create a marker naming a process that
            does not exist, as a holder that crashed leaves behind. Never enters a section.

Sections append one 32-byte record "VALUE TAG" to DIR/counter (DIR/counter.K for slot K) and
log the section number to DIR/log.ID, with the same checks as spec/faults/worker.lua: a
counter that grows while the peer is inside means two holders at once (DIR/violations, exit 3).
Runs until the file STOP exists.
"""
import fcntl
import os
import random
import socket
import sys
import time

REC = 32


def violation(dirname, ident, what):
    with open(os.path.join(dirname, "violations"), "a") as f:
        f.write("%s: %s\n" % (ident, what))
    sys.stderr.write("violation: %s: %s\n" % (ident, what))
    sys.exit(3)


def pause():
    if random.random() < 0.15:
        time.sleep(random.random() * 0.004)


def section(dirname, ident, counter, seq, log):
    fd = os.open(counter, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size % REC:
            violation(dirname, ident, "torn record in %s (size %d)" % (counter, size))
        last = 0
        if size:
            rec = os.pread(fd, REC, size - REC).decode()
            last = int(rec.split(" ", 1)[0])
        pause()
        now = os.fstat(fd).st_size
        if now != size:
            violation(dirname, ident, "the counter grew from %d to %d while inside" % (size, now))
        rec = ("%010d %-20s\n" % (last + 1, "%s:%d" % (ident, seq))).encode()
        assert len(rec) == REC
        os.write(fd, rec)
    finally:
        os.close(fd)
    pause()
    log.write("%d\n" % seq)
    log.flush()


def unlinker(path, dirname, ident, stop, slots):
    log = open(os.path.join(dirname, "log." + ident), "a")
    seq = 0
    while not os.path.exists(stop):
        if slots:
            k = random.randint(1, slots)
            lockfile, counter = "%s.%d" % (path, k), os.path.join(dirname, "counter.%d" % k)
        else:
            lockfile, counter = path, os.path.join(dirname, "counter")
        fd = os.open(lockfile, os.O_RDWR | os.O_CREAT, 0o644)
        if slots:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                time.sleep(0.0005)
                continue
        else:
            fcntl.flock(fd, fcntl.LOCK_EX)
        mine = os.fstat(fd)
        try:
            there = os.stat(lockfile)
        except FileNotFoundError:
            there = None
        if there is None or (there.st_dev, there.st_ino) != (mine.st_dev, mine.st_ino):
            os.close(fd)  # locked a file that left the path: try the one there now
            continue
        seq += 1
        section(dirname, ident, counter, seq, log)
        os.unlink(lockfile)
        if seq % 2:
            os.close(os.open(lockfile, os.O_RDWR | os.O_CREAT, 0o644))
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        time.sleep(random.random() * 0.002)  # let the others in too


def softlock(path, dirname, ident, stop):
    import filelock

    log = open(os.path.join(dirname, "log." + ident), "a")
    lock = filelock.SoftFileLock(path)
    seq = 0
    while not os.path.exists(stop):
        try:
            lock.acquire(timeout=0.5, poll_interval=0.001)
        except filelock.Timeout:
            continue
        try:
            seq += 1
            section(dirname, ident, os.path.join(dirname, "counter"), seq, log)
        finally:
            lock.release()


def planter(path, dirname, ident, stop):
    with open("/proc/sys/kernel/pid_max") as f:
        dead = int(f.read()) + 1000  # above pid_max: no process has it
    marker = ("%d\n%s\n" % (dead, socket.gethostname())).encode()
    planted = 0
    while not os.path.exists(stop):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            time.sleep(0.0001)
            continue
        os.write(fd, marker)
        os.close(fd)
        planted += 1
        with open(os.path.join(dirname, "planted." + ident), "w") as f:
            f.write("%d\n" % planted)


def main():
    mode, path, dirname, ident, stop = sys.argv[1:6]
    slots = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    random.seed(int.from_bytes(os.urandom(4), "little"))
    if mode == "unlinker":
        unlinker(path, dirname, ident, stop, slots)
    elif mode == "softlock":
        softlock(path, dirname, ident, stop)
    elif mode == "planter":
        planter(path, dirname, ident, stop)
    else:
        sys.exit("peer.py: unknown mode " + mode)


if __name__ == "__main__":
    main()
