#!/usr/bin/env python3
"""Run a command and report what it cost, as one JSON object on stdout:
wall seconds, CPU seconds (user + system, children included), peak RSS as the
kernel counts it (file-backed pages such as a memory-mapped input included), and
peak anonymous RSS (the process's own memory: heap, stacks; sampled every 5 ms
from /proc, so a spike shorter than that can be missed).

    python benches/measure.py -- COMMAND [ARGS...]
"""

import json
import os
import subprocess
import sys
import time


def rss_anon_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    args = sys.argv[1:]
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        sys.exit("usage: measure.py -- COMMAND [ARGS...]")
    start = time.monotonic()
    child = subprocess.Popen(args)
    peak_anon = 0
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid != 0:
            break
        peak_anon = max(peak_anon, rss_anon_kib(child.pid))
        time.sleep(0.005)
    wall = time.monotonic() - start
    code = os.waitstatus_to_exitcode(status)
    print(
        json.dumps(
            {
                "exit": code,
                "wall_s": round(wall, 3),
                "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
                "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
                "peak_anon_mib": round(peak_anon / 1024, 1),
            }
        )
    )
    sys.exit(code)


if __name__ == "__main__":
    main()
