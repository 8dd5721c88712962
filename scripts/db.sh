#!/usr/bin/env bash
# Project-local PostgreSQL + TimescaleDB cluster (independent of any system cluster).
#
# Usage: scripts/db.sh start|stop|status|url|psql [PSQL-ARGS...]
#
#   start   initialise on first use, start, wait until it accepts connections (idempotent)
#   stop    fast shutdown (idempotent)
#   status  exit 0 if running, 3 if not
#   url     print postgres://pms:<password>@127.0.0.1:<port>/pms
#   psql    run psql on database pms as superuser pms (extra args passed on)
#   replica start|stop|status|url
#           a hot-standby streaming replica of this cluster (var/pg/replica) on PMS_PG_REPLICA_PORT, or
#           else on the first free port after the cluster's (chosen at each start, so another server on
#           that port is stepped over; `replica url` names the port it took), made with pg_basebackup on
#           its first start (no slot)
#
# Environment: PMS_PG_PORT (default 54329); PMS_PG_REPLICA_PORT; PMS_PG_BIN to force a server bin dir.
# Layout: var/pg/{data,run,log} and var/secrets/db_password under the repo root.
# As root the server runs as the `postgres` OS user; if that user cannot reach
# the repo's var/ (e.g. a clone under /root), var/pg is a symlink to
# /var/lib/pms-site/<sha1(repo path)[:12]>/.
# Needs PostgreSQL + TimescaleDB installed (scripts/install-postgres.sh).
set -euo pipefail

say() { printf '==> %s\n' "$*" >&2; }
die() { printf '==> ERROR: %s\n' "$*" >&2; exit 1; }

PROJECT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
VAR=$PROJECT/var
PG_LINK=$VAR/pg
PW_FILE=$VAR/secrets/db_password
PORT=${PMS_PG_PORT:-54329}
DB_NAME=pms
DB_USER=pms
SITE_DIR=/var/lib/pms-site
PROJECT_HASH=$(printf '%s' "$PROJECT" | sha1sum | cut -c1-12)

if ! [[ $PORT =~ ^[1-9][0-9]{0,4}$ ]] || ((PORT > 65535)); then
    die "PMS_PG_PORT must be a TCP port number, got '$PORT'"
fi

if [[ $EUID -eq 0 ]]; then
    RUN_USER=postgres
    # Run as the postgres OS user, from / (the caller's cwd may be unreadable to it).
    as_pg() { (cd / && runuser -u postgres -- "$@"); }
else
    RUN_USER=$(id -un)
    as_pg() { "$@"; }
fi

# --- locating things -----------------------------------------------------------

# has_timescaledb_lib MAJOR: the server of that major has a timescaledb*.so
has_timescaledb_lib() {
    local major=$1 libdir=/usr/lib/postgresql/$1/lib
    if [[ -x /usr/lib/postgresql/$major/bin/pg_config ]]; then
        libdir=$(/usr/lib/postgresql/"$major"/bin/pg_config --pkglibdir 2>/dev/null) || libdir=/usr/lib/postgresql/$major/lib
    fi
    compgen -G "$libdir/timescaledb*.so" >/dev/null
}

# Sets PGBIN: the cluster's own major if it exists, else the newest major with TimescaleDB.
find_pgbin() {
    if [[ -n ${PMS_PG_BIN:-} ]]; then
        PGBIN=$PMS_PG_BIN
        [[ -x $PGBIN/pg_ctl ]] || die "PMS_PG_BIN=$PGBIN has no pg_ctl"
        return
    fi
    if [[ -n ${DATA:-} && -f $DATA/PG_VERSION ]]; then
        local major
        major=$(<"$DATA/PG_VERSION")
        PGBIN=/usr/lib/postgresql/$major/bin
        if [[ ! -x $PGBIN/pg_ctl ]] || ! has_timescaledb_lib "$major"; then
            die "the cluster in $DATA is PostgreSQL $major, but $PGBIN/pg_ctl or its TimescaleDB library is missing (run scripts/install-postgres.sh, or remove var/pg to start over)"
        fi
        return
    fi
    local ctl major
    PGBIN=
    while read -r ctl; do
        major=${ctl#/usr/lib/postgresql/}
        major=${major%%/*}
        if has_timescaledb_lib "$major"; then
            PGBIN=${ctl%/pg_ctl}
            return
        fi
    done < <(compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' | sort -t/ -k4,4 -V -r)
    die "no PostgreSQL server with TimescaleDB found; run scripts/install-postgres.sh first"
}

# Sets PG_HOME (physical dir behind var/pg), DATA, RUN_DIR, LOG_DIR, SOCK_DIR.
# Returns 1 if var/pg does not exist yet.
resolve_layout() {
    if [[ -L $PG_LINK || -e $PG_LINK ]]; then
        PG_HOME=$(readlink -f "$PG_LINK") || true
        [[ -n $PG_HOME && -d $PG_HOME ]] || die "$PG_LINK points to a missing directory ($(readlink "$PG_LINK")); remove it to start over"
    else
        return 1
    fi
    DATA=$PG_HOME/data
    RUN_DIR=$PG_HOME/run
    LOG_DIR=$PG_HOME/log
    SOCK_DIR=$RUN_DIR
    # A Unix socket path may not exceed 107 bytes; fall back to a short dir.
    if ((${#SOCK_DIR} + ${#PORT} + 10 > 107)); then
        SOCK_DIR=/tmp/pms-pg-$PROJECT_HASH
    fi
    return 0
}

# Creates var/pg (directory or symlink into $SITE_DIR) owned by the server user.
create_layout() {
    mkdir -p "$VAR"
    if [[ $EUID -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || die "no 'postgres' OS user; run scripts/install-postgres.sh first"
        if as_pg test -x "$VAR" -a -r "$VAR"; then
            mkdir -m 700 "$PG_LINK"
            chown postgres:postgres "$PG_LINK"
        else
            local home=$SITE_DIR/$PROJECT_HASH
            say "user postgres cannot reach $VAR; keeping the cluster in $home (var/pg links there)"
            mkdir -p "$SITE_DIR"
            chmod 755 "$SITE_DIR"
            mkdir -p "$home"
            chown postgres:postgres "$home"
            chmod 700 "$home"
            ln -sfn "$home" "$PG_LINK"
        fi
    else
        mkdir -m 700 "$PG_LINK"
    fi
}

ensure_dirs() {
    local d
    for d in "$DATA" "$RUN_DIR" "$LOG_DIR" "$SOCK_DIR"; do
        if [[ ! -d $d ]]; then
            mkdir -m 700 "$d"
            [[ $EUID -ne 0 ]] || chown postgres:postgres "$d"
        fi
    done
}

is_running() { [[ -f $DATA/PG_VERSION ]] && as_pg "$PGBIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1; }

running_port() { sed -n 4p "$DATA/postmaster.pid" 2>/dev/null || true; }

read_password() {
    [[ -s $PW_FILE ]] || die "no $PW_FILE yet; run scripts/db.sh start first"
    PASSWORD=$(<"$PW_FILE")
}

# Run SQL (stdin) as superuser pms over the Unix socket (peer auth, see pg_ident.conf).
sql_as_superuser() {
    as_pg env PGOPTIONS='-c client_min_messages=warning' \
        "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK_DIR" -p "$PORT" -U "$DB_USER" -d postgres
}

# --- first-time initialisation ---------------------------------------------------

generate_password() {
    if command -v openssl >/dev/null; then
        openssl rand -hex 24
    else
        od -An -tx1 -N24 /dev/urandom | tr -d ' \n'
        echo
    fi
}

ensure_password() {
    PW_NEW=0
    [[ -s $PW_FILE ]] && return
    mkdir -p "$(dirname "$PW_FILE")"
    chmod 700 "$(dirname "$PW_FILE")"
    (umask 077 && generate_password >"$PW_FILE.tmp")
    mv "$PW_FILE.tmp" "$PW_FILE"
    chmod 600 "$PW_FILE"
    PW_NEW=1
    say "generated the database password in ${PW_FILE#"$PROJECT"/}"
}

run_initdb() {
    say "initialising a PostgreSQL $(basename "$(dirname "$PGBIN")") cluster in $DATA"
    local pwcopy=$PW_FILE
    if [[ $EUID -eq 0 ]]; then
        # postgres may not be able to read var/secrets: hand it a private temp copy.
        pwcopy=$(mktemp /tmp/pms-pgpw.XXXXXX)
        trap 'rm -f "$pwcopy"' EXIT
        cat "$PW_FILE" >"$pwcopy"
        chown postgres "$pwcopy"
    fi
    as_pg "$PGBIN/initdb" -D "$DATA" -U "$DB_USER" --pwfile="$pwcopy" \
        --auth-local=peer --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 >"$LOG_DIR/initdb.log" 2>&1 \
        || { tail -n 20 "$LOG_DIR/initdb.log" >&2; die "initdb failed (log: $LOG_DIR/initdb.log)"; }
    if [[ $pwcopy != "$PW_FILE" ]]; then
        rm -f "$pwcopy"
        trap - EXIT
    fi

    # Local (socket) connections: peer auth, with the server's OS user, root and
    # the invoking user mapped to the superuser role.
    local ident
    ident=$(printf 'pms  %s  %s\n' postgres "$DB_USER" root "$DB_USER")
    [[ $RUN_USER == postgres ]] || ident+=$'\n'"pms  $RUN_USER  $DB_USER"
    as_pg tee "$DATA/pg_ident.conf" >/dev/null <<EOF
# MAPNAME  SYSTEM-USERNAME  PG-USERNAME  (written by scripts/db.sh)
$ident
EOF
    as_pg tee "$DATA/pg_hba.conf" >/dev/null <<'EOF'
# TYPE  DATABASE     USER  ADDRESS        METHOD  (written by scripts/db.sh)
local   all          all                  peer map=pms
host    all          all   127.0.0.1/32   scram-sha-256
host    all          all   ::1/128        scram-sha-256
local   replication  all                  peer map=pms
host    replication  all   127.0.0.1/32   scram-sha-256
EOF
    as_pg tee -a "$DATA/postgresql.conf" >/dev/null <<'EOF'

# ---- pms-site settings (scripts/db.sh) ----
shared_preload_libraries = 'timescaledb'
timescaledb.telemetry_level = off
max_connections = 200
shared_buffers = 512MB
work_mem = 32MB
maintenance_work_mem = 256MB
effective_cache_size = 4GB
max_worker_processes = 16
timescaledb.max_background_workers = 8
synchronous_commit = on
fsync = on
log_timezone = 'UTC'
timezone = 'UTC'
# port, listen_addresses and unix_socket_directories: rewritten on every start
include_if_exists = 'pms-runtime.conf'
EOF
}

write_runtime_conf() {
    local want
    want=$(printf "%s\n" \
        "# written by scripts/db.sh on every start" \
        "listen_addresses = '127.0.0.1'" \
        "port = $PORT" \
        "unix_socket_directories = '${SOCK_DIR//\'/\'\'}'")
    if [[ ! -f $DATA/pms-runtime.conf || "$(<"$DATA/pms-runtime.conf")" != "$want" ]]; then
        printf '%s\n' "$want" | as_pg tee "$DATA/pms-runtime.conf" >/dev/null
    fi
}

# Idempotent: database pms, and the extension in it and in template1 (so test
# databases created from template1 have it too).
bootstrap_databases() {
    say "creating database $DB_NAME and the timescaledb extension (in $DB_NAME and template1)"
    sql_as_superuser <<EOF
SELECT 'CREATE DATABASE $DB_NAME OWNER $DB_USER' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DB_NAME')\gexec
\connect template1
CREATE EXTENSION IF NOT EXISTS timescaledb;
\connect $DB_NAME
CREATE EXTENSION IF NOT EXISTS timescaledb;
EOF
}

# --- commands ------------------------------------------------------------------------

cmd_start() {
    if resolve_layout; then
        find_pgbin
        if is_running; then
            local p
            p=$(running_port)
            [[ -z $p || $p == "$PORT" ]] || say "WARNING: it listens on port $p, not PMS_PG_PORT=$PORT"
            say "already running on 127.0.0.1:${p:-$PORT}"
            return 0
        fi
    fi

    mkdir -p "$VAR"
    exec 9>"$VAR/.db.lock"
    flock 9
    resolve_layout || { create_layout; resolve_layout; }
    find_pgbin
    if is_running; then
        say "already running on 127.0.0.1:$(running_port)"
        return 0
    fi
    ensure_dirs
    ensure_password
    local fresh=0
    if [[ ! -f $DATA/PG_VERSION ]]; then
        if [[ -n $(ls -A "$DATA") ]]; then
            die "$DATA is not empty but holds no cluster; remove it to start over"
        fi
        run_initdb
        fresh=1
    fi
    write_runtime_conf

    say "starting PostgreSQL on 127.0.0.1:$PORT (log: ${LOG_DIR}/postgres.log)"
    if ! as_pg "$PGBIN/pg_ctl" start -D "$DATA" -l "$LOG_DIR/postgres.log" -w -t 60 >/dev/null; then
        tail -n 20 "$LOG_DIR/postgres.log" >&2 || true
        die "PostgreSQL did not start (port $PORT in use?); log: $LOG_DIR/postgres.log"
    fi
    local i
    for ((i = 0; i < 300; i++)); do
        "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && break
        sleep 0.1
    done
    "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" || die "PostgreSQL started but does not accept TCP connections on 127.0.0.1:$PORT"

    if ((PW_NEW && !fresh)); then
        # Existing cluster but the password file was lost (e.g. a new clone
        # reusing /var/lib/pms-site): set the new password.
        say "setting the new password on the existing cluster"
        sql_as_superuser <<EOF
ALTER ROLE $DB_USER PASSWORD '$(<"$PW_FILE")';
EOF
    fi
    if [[ ! -f $PG_HOME/.bootstrapped ]]; then
        bootstrap_databases
        touch "$PG_HOME/.bootstrapped"
    fi
    say "PostgreSQL is running on 127.0.0.1:$PORT (database $DB_NAME)"
}

cmd_stop() {
    if ! resolve_layout || [[ ! -f $DATA/PG_VERSION ]]; then
        say "no cluster in var/pg; nothing to stop"
        return 0
    fi
    find_pgbin
    if ! is_running; then
        say "not running"
        return 0
    fi
    say "stopping PostgreSQL"
    as_pg "$PGBIN/pg_ctl" stop -D "$DATA" -m fast -w -t 60 >/dev/null
    say "stopped"
}

cmd_status() {
    if ! resolve_layout || [[ ! -f $DATA/PG_VERSION ]]; then
        say "no cluster yet (run scripts/db.sh start)"
        return 3
    fi
    find_pgbin
    if is_running; then
        say "running: PostgreSQL $(<"$DATA/PG_VERSION") on 127.0.0.1:$(running_port), pid $(head -n1 "$DATA/postmaster.pid"), data $DATA"
        return 0
    fi
    say "stopped (data $DATA)"
    return 3
}

cmd_url() {
    read_password
    printf 'postgres://%s:%s@127.0.0.1:%s/%s\n' "$DB_USER" "$PASSWORD" "$PORT" "$DB_NAME"
}

cmd_psql() {
    read_password
    local psql=psql
    if resolve_layout; then
        find_pgbin
        psql=$PGBIN/psql
    fi
    PGPASSWORD=$PASSWORD exec "$psql" -h 127.0.0.1 -p "$PORT" -U "$DB_USER" -d "$DB_NAME" "$@"
}

# --- the streaming replica ---------------------------------------------------------------------------

if [[ -n ${PMS_PG_REPLICA_PORT:-} ]] && { ! [[ $PMS_PG_REPLICA_PORT =~ ^[1-9][0-9]{0,4}$ ]] || ((PMS_PG_REPLICA_PORT > 65535)); }; then
    die "PMS_PG_REPLICA_PORT must be a TCP port number, got '$PMS_PG_REPLICA_PORT'"
fi

# Sets REPLICA_DATA (beside the primary's data directory, so also reachable by the postgres user) and
# REPLICA_PORT: PMS_PG_REPLICA_PORT, else the port of the replica's last start, else the cluster's port + 1.
resolve_replica() {
    resolve_layout || die "no cluster in var/pg; run scripts/db.sh start first"
    find_pgbin
    REPLICA_DATA=$PG_HOME/replica
    REPLICA_PORT=${PMS_PG_REPLICA_PORT:-}
    if [[ -z $REPLICA_PORT ]]; then
        REPLICA_PORT=$(sed -n 's/^port = \([0-9]*\)$/\1/p' "$REPLICA_DATA/pms-runtime.conf" 2>/dev/null || true)
    fi
    REPLICA_PORT=${REPLICA_PORT:-$((PORT + 1))}
}

replica_running() { [[ -f $REPLICA_DATA/PG_VERSION ]] && as_pg "$PGBIN/pg_ctl" status -D "$REPLICA_DATA" >/dev/null 2>&1; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Starts the replica on PMS_PG_REPLICA_PORT, or else on the first port after the cluster's that it can bind. A
# port with a server listening is skipped (e.g. a replica of another checkout on this machine); one the start
# still finds taken is given up for the next: these ports lie in the range the system hands out to the local
# ends of client connections, which no connection test sees.
start_replica_on_a_free_port() {
    local port=${PMS_PG_REPLICA_PORT:-$((PORT + 1))} last=$((PORT + 100)) log=$LOG_DIR/replica.log logged
    [[ -z ${PMS_PG_REPLICA_PORT:-} ]] || last=$port
    for (( ; port <= last && port <= 65535; port++)); do
        if [[ -z ${PMS_PG_REPLICA_PORT:-} ]] && port_in_use "$port"; then
            continue
        fi
        printf '%s\n' "# written by scripts/db.sh replica start" "listen_addresses = '127.0.0.1'" \
            "port = $port" "unix_socket_directories = '${SOCK_DIR//\'/\'\'}'" \
            | as_pg tee "$REPLICA_DATA/pms-runtime.conf" >/dev/null
        logged=$(stat -c %s "$log" 2>/dev/null || echo 0)
        say "starting the replica on 127.0.0.1:$port (log: $log)"
        if as_pg "$PGBIN/pg_ctl" start -D "$REPLICA_DATA" -l "$log" -w -t 60 >/dev/null 2>&1; then
            REPLICA_PORT=$port
            return 0
        fi
        if ! tail -c +$((logged + 1)) "$log" | grep -q 'Address already in use'; then
            tail -n 20 "$log" >&2
            die "the replica did not start; log: $log"
        fi
        say "port $port is taken after all; trying the next"
    done
    [[ -z ${PMS_PG_REPLICA_PORT:-} ]] || die "port $PMS_PG_REPLICA_PORT (PMS_PG_REPLICA_PORT) is taken"
    die "no free port for the replica from $((PORT + 1)) to $last; set PMS_PG_REPLICA_PORT"
}

cmd_replica_start() {
    resolve_replica
    is_running || die "the primary is not running; run scripts/db.sh start first"
    if replica_running; then
        say "replica already running on 127.0.0.1:$REPLICA_PORT"
        return 0
    fi
    read_password
    if [[ ! -f $REPLICA_DATA/PG_VERSION ]]; then
        [[ $(as_pg "$PGBIN/psql" -X -At -h "$SOCK_DIR" -p "$PORT" -U "$DB_USER" -d postgres -c 'SHOW wal_level') != minimal ]] \
            || die "the primary has wal_level = minimal; a replica needs replica or logical (and a restart)"
        say "copying the primary into $REPLICA_DATA (pg_basebackup)"
        # -R writes standby.signal and primary_conninfo. No replication slot: a slot would keep every WAL
        # segment on the primary for as long as the replica is stopped. A replica stopped for long may then
        # no longer find the WAL it needs (its log says so): remove var/pg/replica and start it again.
        as_pg env PGPASSWORD="$PASSWORD" "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$PORT" -U "$DB_USER" \
            -D "$REPLICA_DATA" -R -X stream --checkpoint=fast \
            || die "pg_basebackup failed"
        printf '%s\n' "" "# ---- replica (scripts/db.sh replica) ----" "hot_standby = on" \
            "# Long page reads are not cancelled by the primary's vacuum, which keeps the rows they see." \
            "hot_standby_feedback = on" | as_pg tee -a "$REPLICA_DATA/postgresql.conf" >/dev/null
    fi
    start_replica_on_a_free_port
    say "replica is running on 127.0.0.1:$REPLICA_PORT, streaming from 127.0.0.1:$PORT"
}

cmd_replica_stop() {
    resolve_replica
    if ! replica_running; then
        say "replica not running"
        return 0
    fi
    as_pg "$PGBIN/pg_ctl" stop -D "$REPLICA_DATA" -m fast -w -t 60 >/dev/null
    say "replica stopped"
}

cmd_replica_status() {
    resolve_replica
    if replica_running; then
        say "replica running on 127.0.0.1:$REPLICA_PORT, data $REPLICA_DATA"
        return 0
    fi
    say "replica stopped"
    return 3
}

cmd_replica_url() {
    resolve_replica
    read_password
    printf 'postgres://%s:%s@127.0.0.1:%s/%s\n' "$DB_USER" "$PASSWORD" "$REPLICA_PORT" "$DB_NAME"
}

case "${1:-}" in
    start)  cmd_start ;;
    stop)   cmd_stop ;;
    status) cmd_status ;;
    url)    cmd_url ;;
    psql)   shift; cmd_psql "$@" ;;
    replica)
        case "${2:-}" in
            start)  cmd_replica_start ;;
            stop)   cmd_replica_stop ;;
            status) cmd_replica_status ;;
            url)    cmd_replica_url ;;
            *) echo "usage: $0 replica start|stop|status|url" >&2; exit 2 ;;
        esac
        ;;
    *)
        echo "usage: $0 start|stop|status|url|psql [psql args...]|replica start|stop|status|url" >&2
        exit 2
        ;;
esac
