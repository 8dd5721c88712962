"""`make run` supervises its processes with scripts/supervise.sh (supervisord): a process killed with SIGKILL
comes back and the event is logged, one that keeps exiting is restarted with a growing delay, and SIGTERM
(as Ctrl-C) stops them all, leaving no process behind.

The supervised set is a real Celery prefork worker (a main process and its pool processes, on a queue of
its own so it takes no other test's tasks) a program that exits at once, and a job run once.
"""

import itertools
import os
import re
import signal
import subprocess
from datetime import datetime

import pytest

from tests.conftest import ROOT, wait_until

EVENT = re.compile(r"^(\S+ \S+) \w+ (\w+): '?(\w+)'?(?: with pid (\d+))?")


def events(log_path, program):
    """(time, event, pid) of the supervisord log lines about ``program``: spawned, success, exited..."""
    found = []
    for line in log_path.read_text().splitlines() if log_path.exists() else []:
        match = EVENT.match(line)
        if match and match[3] == program:
            moment = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f")
            found.append((moment, match[2], int(match[4]) if match[4] else None))
    return found


def running_pid(log_path, program):
    """The pid of ``program`` once supervisord has it RUNNING (up for startsecs), else None."""
    spawned = [(index, pid) for index, (_, event, pid) in enumerate(events(log_path, program)) if pid]
    if not spawned:
        return None
    index, pid = spawned[-1]
    later = [event for _, event, _ in events(log_path, program)[index + 1 :]]
    return pid if later == ["success"] else None


def process_group(pgid):
    """The live processes (zombies aside) of a process group."""
    members = set()
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            members.add(int(entry))
    return members


@pytest.mark.worker
def test_a_killed_process_comes_back_a_crashing_one_backs_off_and_sigterm_leaves_nothing(tmp_path):
    log_path = tmp_path / "log" / "supervisord.log"
    worker = (
        f"{ROOT}/.venv/bin/celery -A pms_site worker --pool=prefork --concurrency=2 --loglevel=INFO "
        f"-Q supervision-test-{os.getpid()} --without-gossip --without-mingle"
    )
    with open(tmp_path / "supervisor.out", "w") as output:
        supervisor = subprocess.Popen(
            ["bash", "scripts/supervise.sh", tmp_path / "run", tmp_path / "log", f"worker={worker}",
             "crashing=sh -c 'exit 3'", "once=once:sh -c 'exit 0'"],
            cwd=ROOT, env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}, stdout=output,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    workers = []  # supervisord starts each program in a process group of its own: the pid is the group's id
    try:
        first = wait_until(lambda: running_pid(log_path, "worker"), timeout=60)
        workers.append(first)
        assert len(process_group(first)) == 3  # the worker and its two pool processes

        os.kill(first, signal.SIGKILL)
        wait_until(lambda: running_pid(log_path, "worker") not in (None, first), timeout=60)
        second = running_pid(log_path, "worker")
        workers.append(second)
        assert "exited: worker (terminated by SIGKILL; not expected)" in log_path.read_text()
        assert len(process_group(second)) == 3

        spawns = [moment for moment, event, _ in events(log_path, "crashing") if event == "spawned"]
        assert len(spawns) >= 4
        delays = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(spawns)]
        # supervisord waits 1 s, 2 s, 3 s... before starting again a program that exited right after its start
        assert all(delay >= backoff - 0.1 for backoff, delay in enumerate(delays[:3], start=1)), delays
        # A job run once is not started again. With startsecs=0, supervisord logs its "success" only when it
        # sees the job running before it exits, which a quick job may not give it the time for.
        once = [event for _, event, _ in events(log_path, "once") if event != "success"]
        assert once == ["spawned", "exited"]

        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=60) == 0
        assert "stopped: worker" in log_path.read_text()
        assert not [pid for worker in workers for pid in process_group(worker)], "processes left behind"
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()
        for pid in [pid for worker in workers for pid in process_group(worker)]:
            os.kill(pid, signal.SIGKILL)
