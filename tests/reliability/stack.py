"""A stack of its own for one test: a Redis on a spare port, with beat and workers on it, so the suite's
worker cannot take its tasks."""

import os
import socket
import subprocess
import sys

from celery import Celery
from django.conf import settings as django_settings

from tests.conftest import ARTIFACTS, ROOT, wait_until


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Stack:
    """Its own Redis, beat and workers for one test, so the suite's worker cannot take its tasks."""

    def __init__(self, tmp_path, log_prefix):
        self.tmp_path, self.log_prefix = tmp_path, log_prefix
        self.port = free_port()
        self.broker_url = f"redis://127.0.0.1:{self.port}/0"
        self.processes = []
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PMS_WORKER_DATABASE_NAME": django_settings.DATABASES["default"]["NAME"],
            "TEST_CELERY_BROKER_URL": self.broker_url,
            "INGEST_LOCK_TIMEOUT": "120s",  # a worker blocked by the test's lock waits, to be killed
        }
        # The project's Celery configuration (its queues and routes) on this stack's Redis.
        self.app = Celery(set_as_current=False)
        self.app.config_from_object("django.conf:settings", namespace="CELERY")
        self.app.conf.broker_url = self.broker_url

    def start(self, name, command):
        log = open(ARTIFACTS / f"{self.log_prefix}-{name}.log", "w")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        process.log = log
        self.processes.append(process)
        return process

    def start_redis(self):
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        self.start("redis", [*command, "--appendonly", "no", "--dir", str(self.tmp_path)])
        wait_until(lambda: self._redis_answers(), timeout=10)

    def _redis_answers(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def start_worker(self, name, *options):
        """A worker, on every queue and with the solo pool unless ``options`` say otherwise."""
        hostname = f"{name}-{os.getpid()}@localhost"
        celery = [sys.executable, "-m", "celery", "-A", "pms_site"]
        options = options or ("--pool=solo",)
        common = ["--loglevel=INFO", "--without-gossip", "--without-mingle", f"--hostname={hostname}"]
        worker = self.start(name, [*celery, "worker", *options, *common])
        wait_until(lambda: self.app.control.ping(destination=[hostname], timeout=0.5), timeout=60)
        return worker

    def start_beat(self):
        celery = [sys.executable, "-m", "celery", "-A", "pms_site", "beat", "--loglevel=INFO"]
        self.start("beat", [*celery, f"--schedule={self.tmp_path / 'beat-schedule'}"])

    def publish(self, batch):
        self.app.send_task("telemetry.process_batch", args=[str(batch.id)])

    def stop(self):
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            process.log.close()
        self.app.close()
