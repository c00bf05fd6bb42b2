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


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def tree_rss(root, per_proc):
    """Sum of VmRSS over the tree; also keeps each process's largest sample in `per_proc`."""
    kids = children_map()
    total, stack = 0, [root]
    while stack:
        p = stack.pop()
        r = rss_kib(p)
        total += r
        if r > per_proc.get(p, (0, ""))[0]:
            per_proc[p] = (r, comm(p))
        stack.extend(kids.get(p, []))
    return total


def cpu_times():
    """(steal, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[7] if len(v) > 7 else 0, sum(v[:8])


def main():
    label = sys.argv[1]
    cmd = sys.argv[sys.argv.index("--") + 1:]
    t0 = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    steal0, total0 = cpu_times()
    proc = subprocess.Popen(cmd)
    peak = 0
    per_proc = {}
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid, per_proc))
        time.sleep(0.02)
    wall = time.monotonic() - t0
    steal1, total1 = cpu_times()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds over wall seconds shows how many cores the tree really kept busy.
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = {
        "label": label,
        "rc": proc.returncode,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "peak_rss_mib": round(peak / 1024, 1),
        # Share of the machine's CPU time the hypervisor gave to other guests meanwhile: on
        # a shared VM a run with high steal is slow for reasons of its own.
        "steal_pct": round(100 * (steal1 - steal0) / max(1, total1 - total0), 1),
        # Largest sample of each process of the tree (a worker's own peak), largest first.
        "peak_proc_rss_mib": [
            [name, round(kib / 1024, 1)]
            for kib, name in sorted(per_proc.values(), reverse=True)
            if kib > 0
        ][:8],
    }
    print(json.dumps(out), file=sys.stderr)
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
