"""Settings for `make bench`: the project's settings on a benchmark database and Redis database of their own,
so the development data is never touched and a `make run` worker never takes benchmark tasks."""

import os

import dj_database_url

from pms_site.settings import *  # noqa: F403
from pms_site.settings import CACHES, CELERY_BEAT_SCHEDULE, CELERY_BROKER_URL, DATABASES

# The database the benchmark creates (and drops) next to the project's, unless PMS_BENCH_DATABASE_URL names
# an existing one to use as it is.
MAINTENANCE_DATABASE_NAME = DATABASES["default"]["NAME"]
if os.environ.get("PMS_BENCH_DATABASE_URL"):
    DATABASES["default"] = dj_database_url.parse(os.environ["PMS_BENCH_DATABASE_URL"], conn_max_age=60)
    BENCH_CREATES_DATABASE = False
else:
    DATABASES["default"]["NAME"] = os.environ.get("PMS_BENCH_DATABASE_NAME", "pms_bench")
    BENCH_CREATES_DATABASE = True
CELERY_BROKER_URL = os.environ.get("PMS_BENCH_BROKER_URL", CELERY_BROKER_URL.rsplit("/", 1)[0] + "/11")
# The rate-limit counters too: the benchmark's Redis database is flushed at its start.
CACHES["shared"] = {**CACHES["shared"], "LOCATION": CELERY_BROKER_URL}
# Benchmarks measure the pipeline, not the rollup jobs; the HTTP benchmark runs beat for the ingest sweep
# alone, which stands in for a prompt that found its batch taken (telemetry/queue.py).
CELERY_BEAT_SCHEDULE = {"ingest-sweep": CELERY_BEAT_SCHEDULE["ingest-sweep"]}
# The HTTP benchmark's gateways post back to back, far beyond a real gateway's rate: no per-token limit.
INGEST_RATE_PER_TOKEN = "1000000/s"
# The pages render without collected static files (no manifest).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
