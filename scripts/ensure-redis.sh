#!/usr/bin/env bash
# Make sure a Redis answers for Celery: the one on 127.0.0.1:6379 if it is there, else Debian's redis-server.
# Skipped when CELERY_BROKER_URL points somewhere else: that Redis is yours to run.
set -euo pipefail
PROJECT=$(cd "$(dirname "$0")/.." && pwd)

if [[ -n "${CELERY_BROKER_URL:-}" && "$CELERY_BROKER_URL" != redis://127.0.0.1:6379* && "$CELERY_BROKER_URL" != redis://localhost:6379* ]]; then
    exit 0
fi

redis_answers() {
    # Speak RESP over bash's /dev/tcp so this works before redis-tools is installed.
    (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && timeout 2 head -c 5 <&3 | grep -q PONG) 2>/dev/null
}

redis_answers && exit 0

if ! command -v redis-server >/dev/null; then
    echo "==> Installing redis-server"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
mkdir -p "$PROJECT/var/redis"
echo "==> Starting redis-server on 127.0.0.1:6379"
redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir "$PROJECT/var/redis" --logfile "$PROJECT/var/redis/redis.log" --pidfile "$PROJECT/var/redis/redis.pid"
for _ in $(seq 50); do redis_answers && exit 0; sleep 0.1; done
echo "redis-server did not answer on 127.0.0.1:6379; see var/redis/redis.log" >&2
exit 1
