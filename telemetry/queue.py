"""Publishing ``telemetry.process_batch`` messages, the one place that does.

A landed batch is durable before its message is published, so a message is only a prompt: the sweep
(``services.batches_requeue_stale``) queues again any batch whose message never came. Publishing therefore
never blocks or fails the caller: ``batch_enqueue`` hands the id to a background thread of the process and
returns at once. When the broker is unreachable that thread logs once per outage and drops the messages.

The thread and its queue belong to one process: after a fork (gunicorn, Celery's prefork pool) the child
starts its own on first use. Tasks are published by name, so this module (and the services using it) never
import the tasks.
"""

import contextlib
import logging
import os
import queue
import threading
import time

from django.conf import settings

from pms_site.celery import app as celery_app

logger = logging.getLogger(__name__)

PROCESS_BATCH_TASK = "telemetry.process_batch"
REATTRIBUTE_TASK = "telemetry.reattribute_readings"
LATE_ROLLUPS_TASK = "telemetry.refresh_late_rollups"
WAITING_LIMIT = 10_000  # ids waiting to be published; beyond, they are dropped (the sweep queues them)
PROMPT_INTERVAL = 0.1  # seconds between two rounds of prompts from one process


class _Publisher:
    def __init__(self):
        self._lock = threading.Lock()
        self._pid = None
        self._waiting = None
        self._broker_down = False

    def put(self, batch_id):
        if self._pid != os.getpid():
            self._start()
        with contextlib.suppress(queue.Full):  # the batch is durable and pending: the sweep queues it
            self._waiting.put_nowait(batch_id)

    def _start(self):
        with self._lock:
            if self._pid == os.getpid():
                return
            self._waiting = queue.Queue(maxsize=WAITING_LIMIT)
            thread = threading.Thread(target=self._run, args=(self._waiting,), name="batch-publisher")
            thread.daemon = True
            thread.start()
            self._pid = os.getpid()

    def _run(self, waiting):
        # A task takes up to INGEST_BATCH_COMPANIONS waiting batches along with its own (and drains the oldest
        # when its own is done already), so the ids that queued up here need one message per that many.
        # After sending, the thread pauses PROMPT_INTERVAL: the ids landing meanwhile go with the next
        # prompt, and a busy web process sends a few prompts a second instead of one per POST (building a
        # Celery message costs more CPU than the rest of the POST's Python). An id that finds the thread
        # idle is sent at once; none waits more than PROMPT_INTERVAL.
        per_message = settings.INGEST_BATCH_COMPANIONS + 1
        while True:
            batch_ids = [waiting.get()]
            with contextlib.suppress(queue.Empty):
                while True:
                    batch_ids.append(waiting.get_nowait())
            for batch_id in batch_ids[::per_message]:
                self._publish(batch_id)
            time.sleep(PROMPT_INTERVAL)

    def _publish(self, batch_id):
        try:
            # argsrepr given, so Celery does not build one with saferepr for every message.
            celery_app.send_task(
                PROCESS_BATCH_TASK, args=[str(batch_id)], argsrepr=f"('{batch_id}',)", retry=False
            )
        except Exception as error:
            if not self._broker_down:
                self._broker_down = True
                logger.warning(
                    "Cannot publish ingest messages (%s: %s); batches stay pending until the sweep "
                    "queues them",
                    type(error).__name__,
                    error,
                )
            return
        if self._broker_down:
            self._broker_down = False
            logger.warning("Publishing ingest messages again")


_publisher = _Publisher()


def batch_enqueue(batch_id):
    """Ask a worker to process the batch ``batch_id``, without waiting for the broker."""
    _publisher.put(batch_id)


def reattribution_enqueue(reattribution_id):
    """Ask a worker to start (or resume) the re-attribution ``reattribution_id``. Rare, so sent at once; a
    broker that cannot take it is logged, and beat's sweep queues it again (reattributions_requeue_stale): it
    resumes where its last chunk ended."""
    try:
        celery_app.send_task(REATTRIBUTE_TASK, args=[reattribution_id], retry=False)
    except Exception as error:
        logger.warning(
            "Cannot queue re-attribution %s (%s: %s)", reattribution_id, type(error).__name__, error
        )


class _LateRollupsPrompt:
    """One prompt per LATE_ROLLUPS_DELAY at most from a process, due that long after it is sent.

    The minutes an ingest notes are committed before it asks; a prompt not yet due will refresh them, so
    while one is pending no other is sent (a margin of a second for clocks of other hosts). The delay lets
    the minutes of the next batches join the same refresh. Beat's prompt every minute stands in for one the
    broker lost."""

    MARGIN = 1.0

    def __init__(self):
        self._lock = threading.Lock()
        self._due_at = 0.0

    def send(self):
        delay = settings.TELEMETRY_LATE_ROLLUPS_DELAY.total_seconds()
        with self._lock:
            now = time.time()
            if now < self._due_at - self.MARGIN:
                return
            self._due_at = now + delay
        try:
            celery_app.send_task(LATE_ROLLUPS_TASK, countdown=delay, retry=False)
        except Exception as error:
            self._due_at = 0.0
            logger.warning(
                "Cannot queue the late rollups' refresh (%s: %s); beat queues it within a minute",
                type(error).__name__,
                error,
            )


_late_rollups_prompt = _LateRollupsPrompt()


def late_rollups_enqueue():
    """Ask a worker to refresh the rollups of the minutes noted as late (rollups.late_minutes_note)."""
    _late_rollups_prompt.send()
