#!/usr/bin/env bash
# `make run`: migrate, prepare the demo, then serve the web app with a Celery worker, beat and the live
# telemetry feed, supervised (scripts/supervise.sh): one that exits is restarted; Ctrl-C stops all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
HOST=${PMS_HOST:-127.0.0.1}
PORT=${PMS_PORT:-8000}
LOG_DIR=var/log
mkdir -p "$LOG_DIR"

echo "==> Migrating the database"
$PY manage.py migrate --no-input -v 0
$PY manage.py collectstatic --no-input -v 0
echo "==> Preparing the demo site"
$PY manage.py demo_data --admin-password-file var/secrets/admin_password
# The last half hour first (0.02 days), so that the pages open with data at once; the rest of the week fills
# in the background (the "history" program below; var/log/history.log shows its progress).
echo "==> Simulated telemetry: filling the last half hour (only what is not stored yet)"
$PY manage.py simulate --backfill-days 0.02

echo
echo "==> PMS Sites is running at http://$HOST:$PORT/  (admin: http://$HOST:$PORT/admin/)"
echo "    Log in as: admin / $(cat var/secrets/admin_password)"
echo "    A week of demo history fills in the background: the charts say where data begins meanwhile."
echo "    Logs: $LOG_DIR/{web,worker-ingest,worker,beat,simulator}.log (restarts: supervisord.log)"
echo "    Ctrl-C stops everything."
echo
# supervisord starts them, restarts one that exits (with backoff) and stops them all on Ctrl-C or SIGTERM.
# Two Celery workers: one for the ingest queue alone, one for the others (alarms, rollups, the default queue).
# A worker shares its pool among the queues it consumes, so in a worker for all queues enough slow rollups
# or alarm evaluations at once would hold every slot, and ingest would wait: a worker of its own never does.
# The upkeep worker runs at a lower CPU priority (nice 10): when the cores are busy, the POSTs and ingest
# come first, and the rollups catch up after (docs/benchmarks.md, the tail).
# The ingest worker's pool is half the cores: each pool process with its PostgreSQL backend keeps about one
# core busy, so a burst of stores never takes every core from the POSTs (bench/http_ingest.py uses the same).
BIN=$PWD/.venv/bin
CELERY_WORKER="$BIN/celery -A pms_site worker --loglevel=INFO"
INGEST_POOL=${PMS_INGEST_CONCURRENCY:-$(( ($(nproc) + 1) / 2 ))}
exec scripts/supervise.sh var "$LOG_DIR" \
    "web=$BIN/gunicorn pms_site.wsgi --config pms_site/gunicorn.conf.py --bind $HOST:$PORT --access-logfile -" \
    "worker-ingest=$CELERY_WORKER --concurrency=$INGEST_POOL -Q ingest --hostname=ingest@%h" \
    "worker=nice -n 10 $CELERY_WORKER --concurrency=2 -Q alarms,rollups,celery --hostname=worker@%h" \
    "beat=$BIN/celery -A pms_site beat --loglevel=INFO --schedule var/celerybeat-schedule" \
    "simulator=$BIN/python manage.py simulate --live" \
    "history=once:$BIN/python manage.py simulate --backfill-days 7"
