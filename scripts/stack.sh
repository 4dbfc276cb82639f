#!/usr/bin/env bash
# The local loanstream stack, without Docker: Kafka (KRaft, from Maven jars), PostgreSQL
# (Debian's binaries) and Airflow 3 (scheduler, api-server, dag-processor, triggerer).
# LOANSTREAM_KAFKA_BROKERS=3: a three-node Kafka cluster (kafka, kafka-2, kafka-3).
# LOANSTREAM_EXECUTOR=celery: the CeleryExecutor, with redis (Debian's redis-server) and
# LOANSTREAM_CELERY_WORKERS workers (celery-worker-1..N, hostnames loanstream-worker-N).
#
#   scripts/stack.sh up       # start whatever is not running, wait until healthy
#   scripts/stack.sh down     # stop exactly what `up` started (pid files + stack id)
#   scripts/stack.sh status   # one line per service
#   scripts/stack.sh clean    # down, then remove .local (and Postgres data outside it)
#
# Layout: pid files in .local/run/<service>.pid, logs in .local/logs/<service>.log.
# Every process started here carries LOANSTREAM_STACK_ID=<hash of this checkout's path> in
# its environment, and each runs in a process group of its own: `down` stops the groups, then
# anything else still carrying the id (children that left the group), and checks nothing is left.
set -euo pipefail
# `up`: first a random value in .env for every password not set yet (existing values kept)
if [ "${1:-}" = up ]; then
    "${LOANSTREAM_PYTHON:-python3}" "$(dirname "${BASH_SOURCE[0]}")/envfile.py" secrets
fi
# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$LOANSTREAM_ROOT"

ROOT="$LOANSTREAM_ROOT"
LOCAL="$LOANSTREAM_LOCAL"
RUN="$LOANSTREAM_RUN_DIR"
LOGS="$LOANSTREAM_LOG_DIR"
PY="$LOANSTREAM_VENV/bin/python"
AIRFLOW="$LOANSTREAM_VENV/bin/airflow"
STACK_ID="$LOANSTREAM_STACK_ID"

KAFKA_DIR="$LOCAL/kafka"
KAFKA_LIBS="$KAFKA_DIR/libs"
KAFKA_TLS="$KAFKA_DIR/tls"
SASL_SSL="${LOANSTREAM_KAFKA_SASL_SSL:-0}"

AIRFLOW_SERVICES=(airflow-scheduler airflow-dag-processor airflow-triggerer airflow-api-server)

KAFKA_BROKERS="${LOANSTREAM_KAFKA_BROKERS:-1}"
case "$KAFKA_BROKERS" in 1 | 3) ;; *) die "LOANSTREAM_KAFKA_BROKERS=$KAFKA_BROKERS: use 1 (the default) or 3" ;; esac
KAFKA_NODES=(kafka)
[ "$KAFKA_BROKERS" = 3 ] && KAFKA_NODES=(kafka kafka-2 kafka-3)

EXECUTOR="${LOANSTREAM_EXECUTOR:-local}"
case "$EXECUTOR" in local | celery) ;; *) die "LOANSTREAM_EXECUTOR=$EXECUTOR: use local (the default) or celery" ;; esac
CELERY_WORKERS="${LOANSTREAM_CELERY_WORKERS:-2}"
[[ "$CELERY_WORKERS" =~ ^[1-9][0-9]?$ ]] || die "LOANSTREAM_CELERY_WORKERS=$CELERY_WORKERS: use 1..99"
CELERY_SERVICES=()
if [ "$EXECUTOR" = celery ]; then
    CELERY_SERVICES=(redis)
    for ((w = 1; w <= CELERY_WORKERS; w++)); do CELERY_SERVICES+=("celery-worker-$w"); done
fi
ALL_SERVICES=(postgres "${KAFKA_NODES[@]}" "${CELERY_SERVICES[@]}" "${AIRFLOW_SERVICES[@]}")

KAFKA_TIMEOUT="${LOANSTREAM_KAFKA_START_TIMEOUT:-120}"
PG_TIMEOUT="${LOANSTREAM_PG_START_TIMEOUT:-60}"
AIRFLOW_TIMEOUT="${LOANSTREAM_AIRFLOW_START_TIMEOUT:-240}"
STOP_TIMEOUT="${LOANSTREAM_STOP_TIMEOUT:-40}"

log() { echo "[stack] $*"; }
die() { echo "[stack] ERROR: $*" >&2; exit 1; }

# fail_service NAME MESSAGE: stop with the service's name, its log file and the log's tail.
fail_service() {
    local name=$1 msg=$2 logf="$LOGS/$1.log"
    {
        echo "[stack] ERROR: $name: $msg"
        echo "[stack] see its log: $logf  (last lines below)"
        [ -f "$logf" ] && tail -n 25 "$logf" | sed 's/^/    /'
    } >&2
    exit 1
}

# --- process helpers -----------------------------------------------------------------------
# A pid file holds two lines: the pid and the process's start time (field 22 of
# /proc/PID/stat), so a pid reused by an unrelated process is never taken for ours. Each
# service runs in a session of its own (setsid): the session id is the service's pid, and
# everything it spawns (Airflow's workers, task processes in their own process groups) stays
# in that session.

pidfile() { echo "$RUN/$1.pid"; }

# proc_start PID: the process's start time in clock ticks since boot.
proc_start() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    echo "$stat" | cut -d' ' -f20
}

# write_pidfile NAME PID
write_pidfile() {
    mkdir -p "$RUN"
    printf '%s\n%s\n' "$2" "$(proc_start "$2" || echo 0)" >"$(pidfile "$1")"
}

# pid_of NAME: the pid in NAME's pid file when that process is alive and is the one we started.
pid_of() {
    local f pid st
    f="$(pidfile "$1")"
    [ -f "$f" ] || return 1
    pid="$(sed -n 1p "$f")"
    st="$(sed -n 2p "$f")"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    [ "$(proc_start "$pid" || true)" = "$st" ] || return 1
    echo "$pid"
}

running() { pid_of "$1" >/dev/null; }

# start_bg NAME CMD...: run CMD in a new session, output appended to .local/logs/NAME.log.
start_bg() {
    local name=$1 pid
    shift
    mkdir -p "$RUN" "$LOGS"
    echo "==== $(date -Is) stack.sh: starting $name: $*" >>"$LOGS/$name.log"
    # PYTHONFAULTHANDLER: a crash in a C extension (librdkafka, psycopg2) logs a traceback.
    LOANSTREAM_STACK_ID="$STACK_ID" PYTHONFAULTHANDLER=1 setsid "$@" </dev/null >>"$LOGS/$name.log" 2>&1 &
    pid=$!
    write_pidfile "$name" "$pid"
}

# session_pids SID...: live processes in any of these sessions.
session_pids() {
    [ "$#" -gt 0 ] || return 0
    ps -e -o pid=,sid= | awk -v sids=" $* " -v self="$$" 'index(sids, " " $2 " ") && $1 != self {print $1}'
}

# marked_pids: live processes whose environment carries this checkout's stack id (exec'd
# children of the services; Airflow's setproctitle hides it in the services themselves).
marked_pids() {
    { grep -lzx "LOANSTREAM_STACK_ID=$STACK_ID" /proc/[0-9]*/environ || true; } 2>/dev/null \
        | awk -F/ -v self="$$" '$3 != self {print $3}'
}

# stop_sessions NAME...: SIGTERM each service's process group at once (a graceful stop:
# Airflow's scheduler ends its own workers), wait for their whole sessions to exit, then
# SIGKILL whatever is left in them.
stop_sessions() {
    local name pid sids="" i left
    for name in "$@"; do
        if pid="$(pid_of "$name")"; then
            log "$name: stopping (pid $pid)"
            kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
            sids="$sids $pid"
        fi
    done
    if [ -n "$sids" ]; then
        for ((i = 0; i < STOP_TIMEOUT * 4; i++)); do
            # shellcheck disable=SC2086
            [ -z "$(session_pids $sids)" ] && break
            sleep 0.25
        done
        # shellcheck disable=SC2086
        left="$(session_pids $sids | tr '\n' ' ')"
        if [ -n "${left// /}" ]; then
            log "$*: still running after ${STOP_TIMEOUT}s, SIGKILL: $left"
            # shellcheck disable=SC2086
            kill -KILL $left 2>/dev/null || true
            sleep 0.5
        fi
    fi
    for name in "$@"; do rm -f "$(pidfile "$name")"; done
}

# --- Kafka ---------------------------------------------------------------------------------

# Cluster mode: LOANSTREAM_KAFKA_BROKERS=3 starts three combined broker+controller KRaft nodes
# (services kafka, kafka-2, kafka-3; infra/kafka/cluster.properties.in appended to each node's
# server.properties) with data under .local/kafka/cluster/nodeN. Node 1 keeps the ports above,
# nodes 2 and 3 take LOANSTREAM_KAFKA_NODE2_PORTS / _NODE3_PORTS (broker,controller,sasl).
# The single node's data (.local/kafka/data) is left alone: switching modes starts empty topics.
kafka_check() { "$PY" "$ROOT/scripts/stackcheck.py" kafka "$LOANSTREAM_BOOTSTRAP_SERVERS" "$KAFKA_BROKERS" 2>/dev/null; }

# node_ports NAME: "broker controller sasl" ports of a node.
node_ports() {
    case "$1" in
    kafka) echo "$LOANSTREAM_KAFKA_PORT $LOANSTREAM_KAFKA_CONTROLLER_PORT $LOANSTREAM_KAFKA_SASL_PORT" ;;
    kafka-2) echo "${LOANSTREAM_KAFKA_NODE2_PORTS//,/ }" ;;
    kafka-3) echo "${LOANSTREAM_KAFKA_NODE3_PORTS//,/ }" ;;
    esac
}
node_id() { case "$1" in kafka) echo 1 ;; *) echo "${1#kafka-}" ;; esac; }
node_dir() { if [ "$KAFKA_BROKERS" = 3 ]; then echo "$KAFKA_DIR/cluster/node$(node_id "$1")"; else echo "$KAFKA_DIR"; fi; }
quorum_voters() {
    local n p c _s out=""
    for n in kafka kafka-2 kafka-3; do
        read -r p c _s <<<"$(node_ports "$n")"
        out="$out${out:+,}$(node_id "$n")@127.0.0.1:$c"
    done
    echo "$out"
}

# kafka_render NODE FILE: server.properties from the template, plus (cluster mode) the node's
# id and the quorum (infra/kafka/cluster.properties.in), plus the SASL_SSL listener
# (infra/kafka/sasl_ssl.properties.in, certificates in .local/kafka/tls) when
# LOANSTREAM_KAFKA_SASL_SSL=1. Owner-only: it holds the keystore password.
kafka_render() {
    local node=$1 out=$2 port cport sport data
    read -r port cport sport <<<"$(node_ports "$node")"
    data="$(node_dir "$node")/data"
    (
        umask 077
        sed -e "s|@KAFKA_PORT@|$port|g" \
            -e "s|@CONTROLLER_PORT@|$cport|g" \
            -e "s|@DATA_DIR@|$data|g" \
            "$ROOT/infra/kafka/server.properties.in" >"$out"
        if [ "$KAFKA_BROKERS" = 3 ]; then
            echo >>"$out"
            sed -e "s|@NODE_ID@|$(node_id "$node")|g" -e "s|@QUORUM_VOTERS@|$(quorum_voters)|g" \
                "$ROOT/infra/kafka/cluster.properties.in" >>"$out"
        fi
        if [ "$SASL_SSL" = 1 ]; then
            "$PY" "$ROOT/scripts/kafka_sasl.py" tls "$KAFKA_TLS" >/dev/null \
                || die "kafka: making the TLS certificates in $KAFKA_TLS failed (openssl?)"
            echo >>"$out"
            "$PY" "$ROOT/scripts/kafka_sasl.py" properties "$KAFKA_TLS" "$port" "$cport" "$sport" >>"$out"
        fi
    )
}

# kafka_cluster_id: one id for all nodes of a cluster (kept in .local/kafka/cluster/cluster.id).
kafka_cluster_id() {
    local f="$KAFKA_DIR/cluster/cluster.id" id
    if [ "$KAFKA_BROKERS" = 3 ] && [ -s "$f" ]; then
        cat "$f"
        return
    fi
    id="$(java -cp "$KAFKA_LIBS/*" -Dlog4j2.configurationFile="$ROOT/infra/kafka/log4j2.xml" \
        kafka.tools.StorageTool random-uuid 2>>"$LOGS/kafka.log" | tail -n 1)"
    if [ "$KAFKA_BROKERS" = 3 ]; then echo "$id" >"$f"; fi
    echo "$id"
}

kafka_start() {
    local node dir props port cport sport heap
    ls "$KAFKA_LIBS"/kafka_2.13-*.jar >/dev/null 2>&1 || die "kafka: no jars in $KAFKA_LIBS: run \`make setup\` first"
    command -v java >/dev/null || die "kafka: java not found: run \`make setup\` first"
    mkdir -p "$LOGS"
    # back to one broker: the other nodes of an earlier cluster stop
    if [ "$KAFKA_BROKERS" = 1 ]; then stop_sessions kafka-2 kafka-3; fi
    heap="$LOANSTREAM_KAFKA_HEAP_OPTS"
    [ "$KAFKA_BROKERS" = 3 ] && heap="${LOANSTREAM_KAFKA_CLUSTER_HEAP_OPTS:--Xms256m -Xmx512m}"
    for node in "${KAFKA_NODES[@]}"; do
        dir="$(node_dir "$node")"
        props="$dir/server.properties"
        mkdir -p "$dir/data"
        kafka_render "$node" "$props.next"
        if running "$node"; then
            if cmp -s "$props.next" "$props"; then
                rm -f "$props.next"
                log "$node: already running (pid $(pid_of "$node"))"
                continue
            fi
            log "$node: its configuration changed (LOANSTREAM_KAFKA_SASL_SSL, LOANSTREAM_KAFKA_BROKERS or ports): restarting it"
            stop_sessions "$node"
        fi
        mv "$props.next" "$props"
        local java_opts=(-Dlog4j2.configurationFile="$ROOT/infra/kafka/log4j2.xml"
            -Dkafka.logs.dir="$LOGS" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
            -XX:ErrorFile="$LOGS/$node-hs_err_%p.log" -Djava.awt.headless=true)
        if [ ! -f "$dir/data/meta.properties" ]; then
            local cluster_id
            mkdir -p "$KAFKA_DIR/cluster"
            cluster_id="$(kafka_cluster_id)"
            log "$node: formatting storage in $dir/data (cluster $cluster_id)"
            java -cp "$KAFKA_LIBS/*" "${java_opts[@]}" kafka.tools.StorageTool format \
                -t "$cluster_id" -c "$props" >>"$LOGS/$node.log" 2>&1 \
                || fail_service "$node" "storage format failed"
        fi
        read -r port cport sport <<<"$(node_ports "$node")"
        log "$node: starting on 127.0.0.1:$port (controller 127.0.0.1:$cport)$([ "$SASL_SSL" = 1 ] && echo ", SASL_SSL 127.0.0.1:$sport")"
        # shellcheck disable=SC2086  # heap options are several words
        start_bg "$node" java $heap "${java_opts[@]}" -cp "$KAFKA_LIBS/*" kafka.Kafka "$props"
    done
}

kafka_wait() {
    local i node
    for ((i = 0; i < KAFKA_TIMEOUT; i++)); do
        for node in "${KAFKA_NODES[@]}"; do
            running "$node" || fail_service "$node" "the broker exited during start-up"
        done
        if kafka_check; then
            log "kafka: healthy ($LOANSTREAM_BOOTSTRAP_SERVERS, $KAFKA_BROKERS broker(s))"
            kafka_scram_user
            return
        fi
        sleep 1
    done
    fail_service kafka "$KAFKA_BROKERS broker(s) not registered at $LOANSTREAM_BOOTSTRAP_SERVERS within ${KAFKA_TIMEOUT}s"
}

kafka_stop() { stop_sessions kafka kafka-2 kafka-3; }

# The SASL_SSL listener's SCRAM user (LOANSTREAM_KAFKA_SCRAM_USER, password from .env), created
# or updated through the PLAINTEXT listener on every start.
kafka_scram_user() {
    [ "$SASL_SSL" = 1 ] || return 0
    "$PY" "$ROOT/scripts/kafka_sasl.py" scram-user "$LOANSTREAM_BOOTSTRAP_SERVERS" "$LOANSTREAM_KAFKA_SCRAM_USER" \
        >>"$LOGS/kafka.log" 2>&1 || fail_service kafka "creating SCRAM user $LOANSTREAM_KAFKA_SCRAM_USER failed"
    log "kafka: SASL_SSL listener 127.0.0.1:$LOANSTREAM_KAFKA_SASL_PORT (SCRAM-SHA-512 user $LOANSTREAM_KAFKA_SCRAM_USER, CA $KAFKA_TLS/ca.pem)"
}

# --- PostgreSQL ----------------------------------------------------------------------------

pg_bin() {
    local d="${LOANSTREAM_PG_BIN:-}"
    [ -n "$d" ] || d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$d" ] && [ -x "$d/pg_ctl" ] || die "postgres: no PostgreSQL server binaries: run \`make setup\` first"
    echo "$d"
}

if [ "$(id -u)" = 0 ]; then
    PG_OS_USER=postgres
else
    PG_OS_USER="$(id -un)"
fi
PG_SUPERUSER="$PG_OS_USER"

# as_pg CMD...: run as the unprivileged OS user that owns the cluster (postgres refuses root).
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# The cluster lives in .local/postgres when the postgres OS user can reach it, else under
# /var/tmp/loanstream-<stack id>. The choice is remembered in .local/postgres-base.
pg_base() {
    local f="$LOCAL/postgres-base" base
    if [ -f "$f" ]; then
        cat "$f"
        return
    fi
    base="$LOCAL/postgres"
    mkdir -p "$base"
    [ "$(id -u)" = 0 ] && chown "$PG_OS_USER": "$base"
    chmod 700 "$base"
    # the socket path must stay under the 107-byte limit of unix sockets
    if ! as_pg test -w "$base" || [ "${#base}" -gt 80 ]; then
        rmdir "$base" 2>/dev/null || true
        base="/var/tmp/loanstream-$STACK_ID"
        mkdir -p "$base"
        [ "$(id -u)" = 0 ] && chown "$PG_OS_USER": "$base"
        chmod 700 "$base"
    fi
    echo "$base" >"$f"
    echo "$base"
}

pg_check() { "$(pg_bin)/pg_isready" -q -h "$LOANSTREAM_PG_HOST" -p "$LOANSTREAM_PG_PORT" -t 2; }

pg_start() {
    local bin base data sock
    bin="$(pg_bin)"
    mkdir -p "$LOCAL" "$RUN" "$LOGS"
    base="$(pg_base)"
    data="$base/data"
    sock="$base/socket"
    if running postgres && pg_check; then
        log "postgres: already running (pid $(pid_of postgres))"
        return
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
        log "postgres: initdb $data"
        as_pg "$bin/initdb" -D "$data" -U "$PG_SUPERUSER" -E UTF8 --locale=C.UTF-8 \
            --auth-local=peer --auth-host=scram-sha-256 >>"$LOGS/postgres.log" 2>&1 \
            || fail_service postgres "initdb failed"
    fi
    as_pg mkdir -p "$sock"
    log "postgres: starting on $LOANSTREAM_PG_HOST:$LOANSTREAM_PG_PORT ($data)"
    echo "==== $(date -Is) stack.sh: starting postgres" >>"$LOGS/postgres.log"
    # Without -l, the server writes to pg_ctl's stdout: this log file, opened by this shell.
    LOANSTREAM_STACK_ID="$STACK_ID" as_pg "$bin/pg_ctl" -D "$data" -w -t "$PG_TIMEOUT" \
        -o "-p $LOANSTREAM_PG_PORT -k $sock -c listen_addresses=$LOANSTREAM_PG_HOST -c max_connections=200" \
        start </dev/null >>"$LOGS/postgres.log" 2>&1 \
        || fail_service postgres "pg_ctl start failed"
    write_pidfile postgres "$(head -n 1 "$data/postmaster.pid")"
}

pg_wait() {
    local i
    for ((i = 0; i < PG_TIMEOUT; i++)); do
        if pg_check; then
            log "postgres: healthy ($LOANSTREAM_PG_HOST:$LOANSTREAM_PG_PORT)"
            return
        fi
        sleep 1
    done
    fail_service postgres "pg_isready failed for ${PG_TIMEOUT}s"
}

# pg_provision: roles and databases for loanstream and Airflow (passwords from the env,
# re-applied on every start). The loanstream tables come from pg_migrate.
pg_provision() {
    local bin base
    bin="$(pg_bin)"
    base="$(pg_base)"
    LS_PG_USER="$LOANSTREAM_PG_USER" LS_PG_DB="$LOANSTREAM_PG_DB" LS_PG_PW="$LOANSTREAM_PG_PASSWORD" \
        AF_PG_USER="$AIRFLOW_PG_USER" AF_PG_DB="$AIRFLOW_PG_DB" AF_PG_PW="$AIRFLOW_PG_PASSWORD" \
        as_pg "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$base/socket" -p "$LOANSTREAM_PG_PORT" \
        -U "$PG_SUPERUSER" -d postgres >>"$LOGS/postgres.log" 2>&1 <<'SQL' || fail_service postgres "creating roles/databases failed"
\getenv ls_user LS_PG_USER
\getenv ls_db LS_PG_DB
\getenv ls_pw LS_PG_PW
\getenv af_user AF_PG_USER
\getenv af_db AF_PG_DB
\getenv af_pw AF_PG_PW
SELECT format('CREATE ROLE %I LOGIN', :'ls_user') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'ls_user') \gexec
ALTER ROLE :"ls_user" WITH LOGIN PASSWORD :'ls_pw';
SELECT format('CREATE DATABASE %I OWNER %I', :'ls_db', :'ls_user') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'ls_db') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'af_user') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'af_user') \gexec
ALTER ROLE :"af_user" WITH LOGIN PASSWORD :'af_pw';
SELECT format('CREATE DATABASE %I OWNER %I', :'af_db', :'af_user') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'af_db') \gexec
SQL
    log "postgres: roles/databases $LOANSTREAM_PG_USER/$LOANSTREAM_PG_DB and $AIRFLOW_PG_USER/$AIRFLOW_PG_DB ready"
}

# pg_migrate: the pending include/sql/migrations of the loanstream database, as its role
# (`loanstream schema migrate`; on every `up`, also when the stack was already running).
pg_migrate() {
    local out rc=0 version applied
    echo "==== $(date -Is) stack.sh: loanstream schema migrate" >>"$LOGS/postgres.log"
    out="$(PYTHONPATH="$ROOT/plugins${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m loanstream.cli \
        schema migrate 2>>"$LOGS/postgres.log")" || rc=$?
    echo "$out" >>"$LOGS/postgres.log"
    [ "$rc" = 0 ] || fail_service postgres "loanstream schema migrate failed (exit $rc)"
    version="$(grep -o '"current": "[0-9]*"' <<<"$out" | grep -o '[0-9][0-9]*' || true)"
    applied="$(grep -o '"applied_now": \[[^]]*\]' <<<"$out" | sed 's/"applied_now": //' || true)"
    log "postgres: loanstream schema at ${version:-?} (applied now: ${applied:-[]})"
}

pg_stop() {
    local f bin data
    f="$(pidfile postgres)"
    [ -f "$LOCAL/postgres-base" ] || { rm -f "$f"; return 0; }
    data="$(cat "$LOCAL/postgres-base")/data"
    local pid i
    if pid="$(pid_of postgres)"; then
        bin="$(pg_bin)"
        log "postgres: stopping (pid $pid)"
        as_pg "$bin/pg_ctl" -D "$data" -m fast -w -t "$STOP_TIMEOUT" stop >>"$LOGS/postgres.log" 2>&1 \
            || stop_sessions postgres
        for ((i = 0; i < 40; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
    fi
    rm -f "$f"
}

# --- Airflow -------------------------------------------------------------------------------

airflow_check() { "$PY" "$ROOT/scripts/stackcheck.py" airflow "$LOANSTREAM_AIRFLOW_URL" 2>/dev/null; }

# Secrets generated once per checkout (JWT, api secret key, Fernet key), never in git.
airflow_secrets() {
    local d="$LOCAL/secrets"
    mkdir -p "$d"
    chmod 700 "$d"
    [ -s "$d/jwt_secret" ] || (umask 077 && head -c 32 /dev/urandom | base64 -w0 >"$d/jwt_secret")
    [ -s "$d/secret_key" ] || (umask 077 && head -c 32 /dev/urandom | base64 -w0 >"$d/secret_key")
    [ -s "$d/fernet_key" ] || (umask 077 && head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' >"$d/fernet_key")
    # re-read env.sh so the AIRFLOW__* secrets are exported
    # shellcheck source=scripts/env.sh
    . "$ROOT/scripts/env.sh"
}

# The admin password for SimpleAuthManager, and the two loanstream connections.
airflow_provision() {
    mkdir -p "$AIRFLOW_HOME"
    (umask 077 && "$PY" - "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" "$LOCAL/run/connections.json" <<'PY'
import json, os, sys

from loanstream.config import Settings
from loanstream.runs.watch import watcher_connection_extra

passwords_file, connections_file = sys.argv[1], sys.argv[2]
with open(passwords_file, "w") as f:
    json.dump({"admin": os.environ["LOANSTREAM_AIRFLOW_ADMIN_PASSWORD"]}, f)
    f.write("\n")

kafka_extra = {"bootstrap.servers": os.environ["LOANSTREAM_BOOTSTRAP_SERVERS"]}
if os.environ.get("LOANSTREAM_KAFKA_SASL_SSL", "0") == "1":
    # the pipeline goes through the SASL_SSL listener (scripts/kafka_sasl.py: client_config)
    kafka_extra = {
        "bootstrap.servers": ",".join(
            "127.0.0.1:" + port
            for port in [os.environ["LOANSTREAM_KAFKA_SASL_PORT"]]
            + ([os.environ[f"LOANSTREAM_KAFKA_NODE{n}_PORTS"].split(",")[2] for n in (2, 3)]
               if os.environ.get("LOANSTREAM_KAFKA_BROKERS", "1") == "3" else [])
        ),
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": os.environ["LOANSTREAM_KAFKA_SCRAM_USER"],
        "sasl.password": os.environ["LOANSTREAM_KAFKA_SCRAM_PASSWORD"],
        "ssl.ca.location": os.environ["LOANSTREAM_LOCAL"] + "/kafka/tls/ca.pem",
    }
for var, key in {
    "LOANSTREAM_KAFKA_SECURITY_PROTOCOL": "security.protocol",
    "LOANSTREAM_KAFKA_SASL_MECHANISM": "sasl.mechanism",
    "LOANSTREAM_KAFKA_SASL_USERNAME": "sasl.username",
    "LOANSTREAM_KAFKA_SASL_PASSWORD": "sasl.password",
    "LOANSTREAM_KAFKA_SSL_CA_LOCATION": "ssl.ca.location",
}.items():
    if os.environ.get(var, "").strip():
        kafka_extra[key] = os.environ[var].strip()
connections = {
    "loanstream_kafka": {
        "conn_type": "kafka",
        "description": "loanstream Kafka (LOANSTREAM_BOOTSTRAP_SERVERS, or the SASL_SSL listener)",
        "extra": json.dumps(kafka_extra),
    },
    # the AssetWatcher of loan_stream_watcher: same cluster, its own consumer group
    "loanstream_kafka_watcher": {
        "conn_type": "kafka",
        "description": "loanstream Kafka for the AssetWatcher (own group; never the sink's)",
        "extra": json.dumps(watcher_connection_extra(kafka_extra, Settings.from_env().watch_group)),
    },
    "loanstream_postgres": {
        "conn_type": "postgres",
        "description": "loanstream results database (from LOANSTREAM_PG_*)",
        "host": os.environ["LOANSTREAM_PG_HOST"],
        "port": int(os.environ["LOANSTREAM_PG_PORT"]),
        "login": os.environ["LOANSTREAM_PG_USER"],
        "password": os.environ["LOANSTREAM_PG_PASSWORD"],
        "schema": os.environ["LOANSTREAM_PG_DB"],
    },
}
with open(connections_file, "w") as f:
    json.dump(connections, f, indent=2)
PY
    )
    log "airflow: db migrate"
    "$AIRFLOW" db migrate >>"$LOGS/airflow-migrate.log" 2>&1 \
        || fail_service airflow-migrate "\`airflow db migrate\` failed"
    "$AIRFLOW" connections import --overwrite "$LOCAL/run/connections.json" >>"$LOGS/airflow-migrate.log" 2>&1 \
        || { rm -f "$LOCAL/run/connections.json"; fail_service airflow-migrate "importing connections failed"; }
    rm -f "$LOCAL/run/connections.json"
    log "airflow: connections loanstream_kafka, loanstream_kafka_watcher, loanstream_postgres imported; admin password set"
}

airflow_start() {
    local svc any=0
    for svc in "${AIRFLOW_SERVICES[@]}"; do
        running "$svc" || any=1
    done
    if [ "$any" = 0 ]; then
        log "airflow: already running"
        return
    fi
    [ -x "$AIRFLOW" ] || die "airflow: $AIRFLOW missing: run \`make setup\` first"
    airflow_secrets
    airflow_provision
    for svc in "${AIRFLOW_SERVICES[@]}"; do
        if running "$svc"; then
            log "$svc: already running"
            continue
        fi
        log "$svc: starting"
        case "$svc" in
        airflow-api-server) start_bg "$svc" "$AIRFLOW" api-server --host "$LOANSTREAM_AIRFLOW_HOST" --port "$LOANSTREAM_AIRFLOW_PORT" ;;
        *) start_bg "$svc" "$AIRFLOW" "${svc#airflow-}" ;;
        esac
    done
}

airflow_wait() {
    local i svc detail
    for ((i = 0; i < AIRFLOW_TIMEOUT; i++)); do
        for svc in "${AIRFLOW_SERVICES[@]}"; do
            running "$svc" || fail_service "$svc" "exited during start-up"
        done
        if airflow_check; then
            log "airflow: healthy ($LOANSTREAM_AIRFLOW_URL)"
            return
        fi
        sleep 1
    done
    # name the component that is not healthy
    detail="$("$PY" "$ROOT/scripts/stackcheck.py" airflow "$LOANSTREAM_AIRFLOW_URL" 2>&1 || true)"
    case "$detail" in
    *scheduler*) svc=airflow-scheduler ;;
    *dag_processor*) svc=airflow-dag-processor ;;
    *triggerer*) svc=airflow-triggerer ;;
    *) svc=airflow-api-server ;;
    esac
    fail_service "$svc" "not healthy within ${AIRFLOW_TIMEOUT}s ($detail)"
}

airflow_stop() { stop_sessions "${AIRFLOW_SERVICES[@]}"; }

# --- Celery (LOANSTREAM_EXECUTOR=celery) ------------------------------------------------------
# Redis on 127.0.0.1:LOANSTREAM_REDIS_PORT (password from .env, no persistence: the queue
# holds only what the scheduler will send again) and LOANSTREAM_CELERY_WORKERS workers. Each
# worker has its own hostname (Celery's node name and Airflow's [core] hostname_callable:
# loanstream.airflow.workers.hostname), so a task instance, its log and XCom say where it ran.
# Task logs are written to the shared log folder and read from there (--skip-serve-logs).

REDIS_DIR="$LOCAL/redis"

redis_cli() { REDISCLI_AUTH="${LOANSTREAM_REDIS_PASSWORD:-}" redis-cli --no-auth-warning -h 127.0.0.1 -p "$LOANSTREAM_REDIS_PORT" "$@"; }
redis_check() { [ "$(redis_cli ping 2>/dev/null)" = PONG ]; }

redis_start() {
    if running redis && redis_check; then
        log "redis: already running (pid $(pid_of redis))"
        return
    fi
    command -v redis-server >/dev/null || die "redis: redis-server not found: run \`make setup\` first"
    [ -n "${LOANSTREAM_REDIS_PASSWORD:-}" ] || die "redis: LOANSTREAM_REDIS_PASSWORD unset (make up writes it into .env)"
    mkdir -p "$REDIS_DIR"
    (
        umask 077
        printf '%s\n' "bind 127.0.0.1" "port $LOANSTREAM_REDIS_PORT" "protected-mode yes" \
            "daemonize no" "save \"\"" "appendonly no" "dir $REDIS_DIR" \
            "requirepass $LOANSTREAM_REDIS_PASSWORD" >"$REDIS_DIR/redis.conf"
    )
    log "redis: starting on 127.0.0.1:$LOANSTREAM_REDIS_PORT"
    start_bg redis redis-server "$REDIS_DIR/redis.conf"
    local i
    for ((i = 0; i < 30; i++)); do
        redis_check && { log "redis: healthy"; return; }
        running redis || fail_service redis "exited during start-up"
        sleep 0.5
    done
    fail_service redis "no PONG from 127.0.0.1:$LOANSTREAM_REDIS_PORT within 15s"
}

celery_workers_start() {
    local w name
    for ((w = 1; w <= CELERY_WORKERS; w++)); do
        name="celery-worker-$w"
        if running "$name"; then
            log "$name: already running"
            continue
        fi
        log "$name: starting (hostname loanstream-worker-$w, $AIRFLOW__CELERY__WORKER_CONCURRENCY slots)"
        LOANSTREAM_WORKER_HOSTNAME="loanstream-worker-$w" \
            AIRFLOW__CORE__HOSTNAME_CALLABLE=loanstream.airflow.workers.hostname \
            start_bg "$name" "$AIRFLOW" celery worker --celery-hostname "loanstream-worker-$w@%h" \
            --concurrency "$AIRFLOW__CELERY__WORKER_CONCURRENCY" --skip-serve-logs
    done
}

# celery_workers_wait: every worker answers a Celery ping (through Redis).
celery_workers_wait() {
    local i w name
    for ((i = 0; i < AIRFLOW_TIMEOUT; i++)); do
        for ((w = 1; w <= CELERY_WORKERS; w++)); do
            running "celery-worker-$w" || fail_service "celery-worker-$w" "exited during start-up"
        done
        if "$PY" "$ROOT/scripts/stackcheck.py" celery "$CELERY_WORKERS" 2>/dev/null; then
            log "celery: $CELERY_WORKERS worker(s) answer"
            return
        fi
        sleep 2
    done
    name="celery-worker-1"
    fail_service "$name" "not all $CELERY_WORKERS workers answered a ping within ${AIRFLOW_TIMEOUT}s"
}

# the executor the running Airflow services were started with (.local/run/executor)
EXECUTOR_STAMP="$RUN/executor"
# (no stamp: a stack started before the Celery option, i.e. with the LocalExecutor)
executor_current() { [ "$(cat "$EXECUTOR_STAMP" 2>/dev/null || echo local)" = "$EXECUTOR" ]; }

# --- credentials ---------------------------------------------------------------------------
# A hash of the passwords the running stack was given (.local/run/credentials.sha256). When
# .env holds others (changed by hand, or generated by a newer `make up` on a stack started
# with the old .env.example placeholders), `up` applies them: Postgres roles are altered in
# place, and Airflow's services restart to use the new metadata-database password, admin
# password and connections. Kafka and Postgres keep running.

CREDENTIALS_STAMP="$RUN/credentials.sha256"

# What the loanstream_kafka connection carries: PLAINTEXT, or the SASL_SSL listener's login.
kafka_client_fp() {
    if [ "${LOANSTREAM_KAFKA_SASL_SSL:-0}" = 1 ]; then
        printf 'sasl_ssl %s %s' "${LOANSTREAM_KAFKA_SCRAM_USER:-}" "${LOANSTREAM_KAFKA_SCRAM_PASSWORD:-}"
    else
        printf 'plaintext'
    fi
    # the cluster's bootstrap list is in the connection too (unchanged for one broker)
    if [ "$KAFKA_BROKERS" = 3 ]; then printf ' brokers 3'; fi
}

credentials_fp() {
    printf '%s\n' "${LOANSTREAM_PG_PASSWORD:-}" "${AIRFLOW_PG_PASSWORD:-}" \
        "${LOANSTREAM_AIRFLOW_ADMIN_PASSWORD:-}" "$(kafka_client_fp)" | sha256sum | cut -c1-64
}

credentials_current() { [ -f "$CREDENTIALS_STAMP" ] && [ "$(cat "$CREDENTIALS_STAMP")" = "$(credentials_fp)" ]; }

credentials_stamp() { (umask 077 && credentials_fp >"$CREDENTIALS_STAMP"); }

any_airflow_running() {
    local svc
    for svc in "${AIRFLOW_SERVICES[@]}"; do
        running "$svc" && return 0
    done
    return 1
}

# --- commands ------------------------------------------------------------------------------

all_healthy() {
    local svc
    for svc in "${ALL_SERVICES[@]}"; do
        running "$svc" || return 1
    done
    # nothing of another mode left running (a third broker, a worker, redis)
    for svc in $(known_services); do
        [[ " ${ALL_SERVICES[*]} " == *" $svc "* ]] || return 1
    done
    executor_current && pg_check && kafka_check && airflow_check
}

# known_services [PREFIX]: services with a pid file (whatever mode started them).
known_services() {
    local f
    for f in "$RUN"/"${1:-}"*.pid; do
        [ -f "$f" ] && basename "$f" .pid
    done
    return 0
}

cmd_up() {
    mkdir -p "$RUN" "$LOGS"
    [ -x "$PY" ] || die "no $PY: run \`make setup\` first"
    if all_healthy && credentials_current; then
        pg_migrate
        log "all services already running and healthy: nothing else to do"
        cmd_status
        return
    fi
    local t0=$SECONDS
    kafka_start # the JVM warms up while Postgres and Airflow's migration run
    pg_start
    pg_wait
    pg_provision
    pg_migrate
    kafka_wait
    if ! credentials_current && any_airflow_running; then
        log "airflow: its services were started with other passwords or another Kafka connection"
        log "airflow: than .env now gives (or before make up generated them): restarting them"
        airflow_stop
    fi
    if any_airflow_running && ! executor_current; then
        log "airflow: its services run another executor than LOANSTREAM_EXECUTOR=$EXECUTOR: restarting them"
        airflow_stop
        stop_sessions $(known_services celery-worker-)
    fi
    if [ "$EXECUTOR" = celery ]; then
        redis_start
    else
        stop_sessions redis $(known_services celery-worker-)
    fi
    airflow_start
    [ "$EXECUTOR" = celery ] && celery_workers_start
    airflow_wait
    [ "$EXECUTOR" = celery ] && celery_workers_wait
    echo "$EXECUTOR" >"$EXECUTOR_STAMP"
    credentials_stamp
    log "stack up in $((SECONDS - t0))s"
    cmd_status
}

cmd_down() {
    local svc pid sids="" left i
    # the sessions of every service we started, remembered before stopping them
    for svc in "${ALL_SERVICES[@]}" $(known_services); do
        if pid="$(pid_of "$svc")"; then sids="$sids $pid"; fi
    done
    # Airflow, its workers, Redis and Kafka together, then Postgres (Airflow records its
    # shutdown in it)
    # shellcheck disable=SC2046
    stop_sessions "${AIRFLOW_SERVICES[@]}" $(known_services celery-worker-) redis kafka kafka-2 kafka-3
    pg_stop
    # shellcheck disable=SC2086
    left="$( (session_pids $sids; marked_pids) | sort -u | tr '\n' ' ')"
    if [ -n "${left// /}" ]; then
        log "stopping leftover processes of this stack: $left"
        # shellcheck disable=SC2086
        kill -TERM $left 2>/dev/null || true
        for ((i = 0; i < 40; i++)); do
            # shellcheck disable=SC2086
            left="$( (session_pids $sids; marked_pids) | sort -u | tr '\n' ' ')"
            [ -z "${left// /}" ] && break
            sleep 0.25
        done
        # shellcheck disable=SC2086
        if [ -n "${left// /}" ]; then kill -KILL $left 2>/dev/null || true; sleep 0.5; fi
        # shellcheck disable=SC2086
        left="$( (session_pids $sids; marked_pids) | sort -u | tr '\n' ' ')"
        [ -z "${left// /}" ] || die "processes still running after down: $left"
    fi
    rm -f "$RUN"/*.pid
    log "stack down: no process of this checkout left"
}

cmd_status() {
    local svc state addr port cport sport seen=" "
    for svc in "${ALL_SERVICES[@]}" $(known_services); do
        [[ "$seen" == *" $svc "* ]] && continue
        seen="$seen$svc "
        case "$svc" in
        kafka | kafka-2 | kafka-3)
            read -r port cport sport <<<"$(node_ports "$svc")"
            addr="127.0.0.1:$port (controller :$cport)$([ "$SASL_SSL" = 1 ] && echo ", SASL_SSL :$sport" || true)"
            ;;
        redis) addr="127.0.0.1:$LOANSTREAM_REDIS_PORT (Celery broker)" ;;
        celery-worker-*) addr="hostname loanstream-worker-${svc#celery-worker-}" ;;
        postgres) addr="$LOANSTREAM_PG_HOST:$LOANSTREAM_PG_PORT (dbs $LOANSTREAM_PG_DB, $AIRFLOW_PG_DB)" ;;
        airflow-api-server) addr="$LOANSTREAM_AIRFLOW_URL (UI + REST API)" ;;
        *) addr="-" ;;
        esac
        if running "$svc"; then
            state="running (pid $(pid_of "$svc"))"
        else
            state="stopped"
        fi
        printf '%-22s %-22s %-48s log %s\n' "$svc" "$state" "$addr" "${LOGS#"$ROOT"/}/$svc.log"
    done
}

cmd_clean() {
    cmd_down
    local base=""
    [ -f "$LOCAL/postgres-base" ] && base="$(cat "$LOCAL/postgres-base")"
    if [ -n "$base" ] && [ "$base" = "/var/tmp/loanstream-$STACK_ID" ]; then
        rm -rf "$base"
    fi
    rm -rf "$LOCAL"
    log "removed $LOCAL"
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
clean) cmd_clean ;;
# after changing plugins/ or the Airflow settings: Kafka and Postgres stay up
restart-airflow) stop_sessions "${AIRFLOW_SERVICES[@]}" && cmd_up ;;
*)
    echo "usage: $0 {up|down|status|clean|restart-airflow}" >&2
    exit 2
    ;;
esac
