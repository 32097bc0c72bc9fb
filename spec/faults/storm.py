"""Send signals to processes until a stop file appears.

    storm.py STOP OUT RATE SIGNALS PID...

SIGNALS is a comma-separated list of names (USR1,WINCH,CHLD); each round sends one of them,
at random, to every PID, RATE rounds a second, and stops sending to a PID once it is gone.
Writes the number of signals sent to OUT.
"""
import os
import random
import signal
import sys
import time


def main():
    stop, out, rate, names = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    pids = [int(p) for p in sys.argv[5:]]
    sigs = [getattr(signal, "SIG" + n) for n in names.split(",")]
    sent = 0
    while pids and not os.path.exists(stop):
        for pid in list(pids):
            try:
                os.kill(pid, random.choice(sigs))
                sent += 1
            except ProcessLookupError:
                pids.remove(pid)  # gone: its number may soon name another process
        time.sleep(1.0 / rate)
    with open(out, "w") as f:
        f.write("%d\n" % sent)


if __name__ == "__main__":
    main()
