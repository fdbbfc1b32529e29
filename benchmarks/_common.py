"""Shared by the benchmark scripts: timing, one subprocess per measurement, tables."""

import json
import resource
import subprocess
import sys
import time


def timings(fn, repeats):
    """Sorted wall times of `fn()` over `repeats` runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)


def median(times):
    """The median of sorted `times` (the upper one of an even count)."""
    return times[len(times) // 2]


def median_time(fn, repeats):
    """Median wall time of `fn()` over `repeats` runs, after one warm-up run."""
    return median(timings(fn, repeats))


def rss_gb():
    """This process's resident memory now, in GB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1e6
    return 0.0


def peak_gb():
    """This process's peak resident memory so far, in GB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def report(result):
    """What a worker process prints for `measure` to read."""
    print("RESULT " + json.dumps(result), flush=True)


def measure(script, *args):
    """Runs `script --worker ...` in a fresh process; returns its reported dict
    (or {"error": last line of its output} when it failed)."""
    proc = subprocess.run([sys.executable, script, *map(str, args)],
                          capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
    return {"error": tail[0][:120]}


def print_table_header(title, header):
    print(title)
    print(header)
    print("-" * len(header), flush=True)
