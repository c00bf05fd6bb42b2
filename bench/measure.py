#!/usr/bin/env python3
"""Run a command; report wall seconds and the peak resident memory of its whole process tree.

`/usr/bin/time -v` reports the largest single process, which hides a coordinator plus worker
processes; this sums the tree every 20 ms from /proc. Prints one JSON line on stderr's last line.
Usage: measure.py LABEL -- command args...
"""
import json
import os
import resource
import subprocess
import sys
import time


def children_map():
    kids = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(pid))
    return kids


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss(root):
    kids = children_map()
    total, stack = 0, [root]
    while stack:
        p = stack.pop()
        total += rss_kib(p)
        stack.extend(kids.get(p, []))
    return total


def main():
    label = sys.argv[1]
    cmd = sys.argv[sys.argv.index("--") + 1:]
    t0 = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(cmd)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(0.02)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds over wall seconds shows how many cores the tree really kept busy.
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = {
        "label": label,
        "rc": proc.returncode,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "peak_rss_mib": round(peak / 1024, 1),
    }
    print(json.dumps(out), file=sys.stderr)
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
