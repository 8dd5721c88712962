"""CPU and memory of the processes a benchmark starts, read from /proc."""

import contextlib
import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(pid):
    """``pid`` and its children (gunicorn's workers, Celery's prefork pool)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *map(int, children)]


def _stat(pid):
    """The fields of /proc/PID/stat after the command name (state is [0], utime [11], stime [12], the times
    of children waited for [13] and [14]), or None for a process that has exited."""
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return None


def cpu_seconds(pids):
    """CPU seconds (user + system) used so far by ``pids``; one that has exited since counts nothing."""
    stats = filter(None, map(_stat, pids))
    return sum(int(fields[11]) + int(fields[12]) for fields in stats) / TICKS


def postgres_cpu_seconds():
    """CPU seconds used so far by the PostgreSQL servers on the machine: the backends of the web and the
    worker, and the server's own processes (WAL writer, checkpointer), which work for them too. A backend
    that has exited is counted in its postmaster's children's times."""
    processes = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            if Path(f"/proc/{entry}/comm").read_text().strip() == "postgres" and (fields := _stat(entry)):
                processes[int(entry)] = fields
    total = 0
    for fields in processes.values():
        total += int(fields[11]) + int(fields[12])  # utime, stime
        if int(fields[1]) not in processes:  # a postmaster: the times of its children that have exited
            total += int(fields[13]) + int(fields[14])
    return total / TICKS


def rss_mb(pids):
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024
