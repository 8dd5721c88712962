#!/usr/bin/env bash
# Run programs under supervisord (PyPI `supervisor`) in the foreground, as `make run` does:
#   scripts/supervise.sh RUN_DIR LOG_DIR NAME=COMMAND [NAME=COMMAND...]
#
# - A program that exits is started again at once; if it then exits within START_SECONDS, again after 1 s,
#   2 s, 3 s... and after START_RETRIES such quick exits in a row it is given up (state FATAL), the others
#   running on. Every start, exit and give-up is logged to the terminal and to LOG_DIR/supervisord.log.
# - Ctrl-C or SIGTERM stops them all: each program gets SIGTERM and stops its own children (gunicorn's and
#   Celery's main processes do: a Celery worker finishes its running tasks first); one still running after
#   STOP_WAIT_SECONDS is killed with its whole process group. Nothing is left behind.
# - A program's output goes to LOG_DIR/NAME.log.
# - NAME=once:COMMAND runs a job that ends by itself (a backfill) once: it is not started again when it
#   exits, whatever its exit status (which the log shows).
#
# The configuration is generated into RUN_DIR/supervisord.conf at every start; the environment is passed on.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 RUN_DIR LOG_DIR NAME=COMMAND..." >&2; exit 2; }
mkdir -p "$1" "$2"
RUN_DIR=$(realpath "$1")
LOG_DIR=$(realpath "$2")
shift 2
START_SECONDS=5
START_RETRIES=30
STOP_WAIT_SECONDS=30
CONF="$RUN_DIR/supervisord.conf"
SUPERVISOR_BIN=$(dirname "$(realpath "$0")")/../.venv/bin

{
    cat <<EOF
[supervisord]
nodaemon=true
logfile=$LOG_DIR/supervisord.log
pidfile=$RUN_DIR/supervisord.pid
childlogdir=$LOG_DIR
EOF
    # Without user=, supervisord run by root logs a CRIT line on every start.
    if [ "$(id -u)" = 0 ]; then echo "user=root"; fi
    for program in "$@"; do
        name=${program%%=*}
        command=${program#*=}
        autorestart=true
        startsecs=$START_SECONDS
        if [[ $command == once:* ]]; then
            command=${command#once:}
            autorestart=false
            startsecs=0
        fi
        cat <<EOF

[program:$name]
command=${command//%/%%}
directory=$PWD
autorestart=$autorestart
startsecs=$startsecs
startretries=$START_RETRIES
stopsignal=TERM
stopwaitsecs=$STOP_WAIT_SECONDS
killasgroup=true
redirect_stderr=true
stdout_logfile=$LOG_DIR/$name.log
stdout_logfile_maxbytes=20MB
stdout_logfile_backups=2
EOF
    done
} >"$CONF"

exec "$SUPERVISOR_BIN/supervisord" --configuration "$CONF"
