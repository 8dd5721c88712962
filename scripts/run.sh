#!/usr/bin/env bash
# `make run`: migrate, prepare the demo, then serve the web app with a Celery worker, beat and the live
# telemetry feed. Ctrl-C stops all of them.
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

pids=()
stop_all() {
    trap - INT TERM EXIT
    echo
    echo "==> Stopping"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
}
trap 'stop_all; exit 130' INT TERM
trap stop_all EXIT

.venv/bin/celery -A pms_site worker --loglevel=INFO --concurrency=2 >"$LOG_DIR/worker.log" 2>&1 &
pids+=($!)
.venv/bin/celery -A pms_site beat --loglevel=INFO --schedule var/celerybeat-schedule >"$LOG_DIR/beat.log" 2>&1 &
pids+=($!)
.venv/bin/gunicorn pms_site.wsgi --config pms_site/gunicorn.conf.py --bind "$HOST:$PORT" --access-logfile - \
    >"$LOG_DIR/web.log" 2>&1 &
pids+=($!)
$PY manage.py simulate --live >"$LOG_DIR/simulator.log" 2>&1 &
pids+=($!)

echo
echo "==> PMS Sites is running at http://$HOST:$PORT/  (admin: http://$HOST:$PORT/admin/)"
echo "    Log in as: admin / $(cat var/secrets/admin_password)"
echo "    Logs: $LOG_DIR/{web,worker,beat,simulator}.log     Ctrl-C stops everything."
wait -n "${pids[@]}" || true
echo "==> A process exited unexpectedly; stopping the others. See $LOG_DIR/" >&2
exit 1
