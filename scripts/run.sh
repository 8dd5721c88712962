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
echo "==> Simulated telemetry: filling the last day (only what is not stored yet)"
$PY manage.py simulate --backfill-days 1

echo
echo "==> PMS Sites is running at http://$HOST:$PORT/  (admin: http://$HOST:$PORT/admin/)"
echo "    Log in as: admin / $(cat var/secrets/admin_password)"
echo "    Logs: $LOG_DIR/{web,worker,beat,simulator}.log (restarts: supervisord.log)     Ctrl-C stops everything."
echo
# supervisord starts them, restarts one that exits (with backoff) and stops them all on Ctrl-C or SIGTERM.
BIN=$PWD/.venv/bin
exec scripts/supervise.sh var "$LOG_DIR" \
    "web=$BIN/gunicorn pms_site.wsgi --config pms_site/gunicorn.conf.py --bind $HOST:$PORT --access-logfile -" \
    "worker=$BIN/celery -A pms_site worker --loglevel=INFO --concurrency=2" \
    "beat=$BIN/celery -A pms_site beat --loglevel=INFO --schedule var/celerybeat-schedule" \
    "simulator=$BIN/python manage.py simulate --live"
