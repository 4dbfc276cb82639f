#!/usr/bin/env bash
# The loanstream environment, shared by every make target, service and test run.
#
#   . scripts/env.sh              # in a bash script: export everything
#   scripts/env.sh CMD [ARGS...]  # run CMD with the environment, e.g.
#   scripts/env.sh .venv/bin/airflow dags list
#
# Loads `.env` if present (`make up` generates the passwords into it: .env.example has none),
# then `.env.example` for anything still unset (variables already in
# the environment always win), then derives the stack's paths and Airflow's configuration
# (AIRFLOW_HOME, AIRFLOW__*) so the Airflow CLI, the services and the tests agree.

LOANSTREAM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export LOANSTREAM_ROOT

# Everything the stack and its tools write (Kafka data, logs, task logs, validation reports,
# which quote cell values) is private to this user.
umask 077

# Read KEY=VALUE lines; a key already set is left alone. Parsed as data, never run: the rules
# of devstack/envfile.py (its parse_value is the definition; tests/unit/test_env_files.py holds
# the two equal): 'single quotes' literal, "double quotes" or bare with ${OTHER}/$OTHER
# references to variables set before, a bare value ends at " #".
_loanstream_expand() {
    local rest=$1 out="" name
    while [[ "$rest" == *'$'* ]]; do
        out+="${rest%%\$*}"
        rest="${rest#*\$}"
        if [[ "$rest" =~ ^\{([A-Za-z_][A-Za-z0-9_]*)\}(.*)$ ]] || [[ "$rest" =~ ^([A-Za-z_][A-Za-z0-9_]*)(.*)$ ]]; then
            name="${BASH_REMATCH[1]}"
            out+="${!name-}"
            rest="${BASH_REMATCH[2]}"
        else
            out+='$'
        fi
    done
    printf '%s' "$out$rest"
}
_loanstream_env_value() {
    local raw=$1
    raw="${raw#"${raw%%[![:space:]]*}"}"
    raw="${raw%"${raw##*[![:space:]]}"}"
    if [ "${#raw}" -ge 2 ] && [ "${raw:0:1}" = "'" ] && [ "${raw: -1}" = "'" ]; then
        printf '%s' "${raw:1:${#raw}-2}"
    elif [ "${#raw}" -ge 2 ] && [ "${raw:0:1}" = '"' ] && [ "${raw: -1}" = '"' ]; then
        _loanstream_expand "${raw:1:${#raw}-2}"
    else
        raw="${raw%%[[:space:]]#*}" # a comment: from the first " #"
        raw="${raw%"${raw##*[![:space:]]}"}"
        _loanstream_expand "$raw"
    fi
}
_loanstream_load_env_file() {
    local file=$1 line key
    [ -f "$file" ] || return 0
    while IFS= read -r line || [ -n "$line" ]; do
        line="${line#"${line%%[![:space:]]*}"}"
        line="${line%"${line##*[![:space:]]}"}"
        case "$line" in '' | '#'*) continue ;; esac
        [[ "$line" =~ ^(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || continue
        key="${BASH_REMATCH[2]}"
        if [ -z "${!key+x}" ]; then
            printf -v "$key" '%s' "$(_loanstream_env_value "${BASH_REMATCH[3]}")"
            export "${key?}"
        fi
    done <"$file"
}
_loanstream_load_env_file "$LOANSTREAM_ROOT/.env"
_loanstream_load_env_file "$LOANSTREAM_ROOT/.env.example"

# --- stack layout (everything under .local/, git-ignored) ---
export LOANSTREAM_LOCAL="$LOANSTREAM_ROOT/.local"
export LOANSTREAM_RUN_DIR="$LOANSTREAM_LOCAL/run"
export LOANSTREAM_LOG_DIR="$LOANSTREAM_LOCAL/logs"
export LOANSTREAM_VENV="$LOANSTREAM_ROOT/.venv"
# A per-checkout id: every process `make up` starts carries LOANSTREAM_STACK_ID in its
# environment, so `make down` finds exactly this checkout's processes (and their children).
# (not exported: only the services get it, from devstack)
LOANSTREAM_STACK_ID="$(printf '%s' "$LOANSTREAM_ROOT" | sha1sum | cut -c1-12)"
export -n LOANSTREAM_STACK_ID
# Cluster mode (LOANSTREAM_KAFKA_BROKERS=3): clients bootstrap from all three nodes, so any
# one of them may be down when a client starts.
if [ "${LOANSTREAM_KAFKA_BROKERS:-1}" = 3 ] && [ "${LOANSTREAM_BOOTSTRAP_SERVERS:-}" = "127.0.0.1:${LOANSTREAM_KAFKA_PORT:-}" ]; then
    LOANSTREAM_BOOTSTRAP_SERVERS="$LOANSTREAM_BOOTSTRAP_SERVERS,127.0.0.1:${LOANSTREAM_KAFKA_NODE2_PORTS%%,*},127.0.0.1:${LOANSTREAM_KAFKA_NODE3_PORTS%%,*}"
fi
# The Kafka admin's login (SCRAM over the loopback SASL_PLAINTEXT listener), written by
# `make up` (devstack/kafka_auth.py), owner-only: Java properties for Kafka's own CLI tools
# (--command-config, --consumer.config, --producer.config) and its JSON twin for librdkafka,
# which loanstream's CLI and the tests start from (loanstream.config: Settings.kafka_config).
export LOANSTREAM_KAFKA_TOOLS_PROPERTIES="${LOANSTREAM_KAFKA_TOOLS_PROPERTIES:-$LOANSTREAM_LOCAL/kafka/admin.properties}"
export LOANSTREAM_KAFKA_CLIENT_CONFIG="${LOANSTREAM_KAFKA_CLIENT_CONFIG:-$LOANSTREAM_LOCAL/kafka/admin.json}"
export LOANSTREAM_AIRFLOW_URL="http://${LOANSTREAM_AIRFLOW_HOST}:${LOANSTREAM_AIRFLOW_PORT}"
# The schema registry's Confluent-compatible API (the local Apicurio Registry `make up` starts),
# unless set to another registry's URL.
export LOANSTREAM_SCHEMA_REGISTRY_URL="${LOANSTREAM_SCHEMA_REGISTRY_URL:-http://127.0.0.1:${LOANSTREAM_SCHEMA_REGISTRY_PORT:-8081}/apis/ccompat/v7}"
# The local Prometheus `make up` starts (scraping /loanstream/metrics, evaluating the alerts).
export LOANSTREAM_PROMETHEUS_URL="${LOANSTREAM_PROMETHEUS_URL:-http://127.0.0.1:${LOANSTREAM_PROMETHEUS_PORT:-9090}}"

# --- Airflow 3 configuration (env vars override airflow.cfg) ---
_loanstream_secret() {
    local f="$LOANSTREAM_LOCAL/secrets/$1"
    [ -f "$f" ] && cat "$f"
    return 0
}
# Percent-encode $1 for a URL (urllib.parse.quote(safe="")), in bash: a secret never goes on
# a command line (any user's `ps` shows every argv).
_loanstream_urlquote() {
    local LC_ALL=C value=$1 out="" char i
    for ((i = 0; i < ${#value}; i++)); do
        char="${value:i:1}"
        case "$char" in
            [A-Za-z0-9_.~-]) out+="$char" ;;
            *) printf -v char '%%%02X' "'$char"; out+="$char" ;;
        esac
    done
    printf '%s\n' "$out"
}
export AIRFLOW_HOME="$LOANSTREAM_LOCAL/airflow"
export AIRFLOW__CORE__DAGS_FOLDER="$LOANSTREAM_ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$LOANSTREAM_ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
# the UI's Test button and `airflow connections test` (the providers' hooks test_connection)
export AIRFLOW__CORE__TEST_CONNECTION="${AIRFLOW__CORE__TEST_CONNECTION:-Enabled}"
# LOANSTREAM_EXECUTOR=celery: the CeleryExecutor, Redis (started by `make up`) as its broker,
# Airflow's own Postgres database as its result backend.
if [ "${LOANSTREAM_EXECUTOR:-local}" = celery ]; then
    export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
    export AIRFLOW__CELERY__WORKER_CONCURRENCY="${AIRFLOW__CELERY__WORKER_CONCURRENCY:-${LOANSTREAM_CELERY_CONCURRENCY:-4}}"
else
    export AIRFLOW__CORE__EXECUTOR=LocalExecutor
fi
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-$LOANSTREAM_AIRFLOW_PARALLELISM}"
export AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG="${AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG:-$LOANSTREAM_AIRFLOW_PARALLELISM}"
export AIRFLOW__CORE__AUTH_MANAGER=airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$AIRFLOW_HOME/simple_auth_manager_passwords.json"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="$LOANSTREAM_AIRFLOW_URL/execution/"
export AIRFLOW__API__BASE_URL="$LOANSTREAM_AIRFLOW_URL"
export AIRFLOW__API__HOST="$LOANSTREAM_AIRFLOW_HOST"
export AIRFLOW__API__PORT="$LOANSTREAM_AIRFLOW_PORT"
# Task logs quote rows and errors: private (Airflow's defaults are 0o775/0o664).
export AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FOLDER_PERMISSIONS="${AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FOLDER_PERMISSIONS:-0o700}"
export AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FILE_PERMISSIONS="${AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FILE_PERMISSIONS:-0o600}"
export AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT="${LOANSTREAM_AIRFLOW_WORKER_LOG_PORT:-8793}"
export AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT="${LOANSTREAM_AIRFLOW_TRIGGER_LOG_PORT:-8794}"
export AIRFLOW__API__WORKERS="${AIRFLOW__API__WORKERS:-1}"
# New DAG files show up within ~10 s; one parsing process on 2 cores.
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="${AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL:-5}"
export AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL="${AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL:-2}"
export AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="${AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL:-10}"
export AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES="${AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES:-1}"
export AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL="${AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL:-300}"
if [ -z "${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-}" ]; then
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg2://${AIRFLOW_PG_USER}:$(_loanstream_urlquote "${AIRFLOW_PG_PASSWORD:-}")@${LOANSTREAM_PG_HOST}:${LOANSTREAM_PG_PORT}/${AIRFLOW_PG_DB}"
    export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN
fi
if [ "${LOANSTREAM_EXECUTOR:-local}" = celery ]; then
    if [ -z "${AIRFLOW__CELERY__BROKER_URL:-}" ]; then
        AIRFLOW__CELERY__BROKER_URL="redis://:$(_loanstream_urlquote "${LOANSTREAM_REDIS_PASSWORD:-}")@127.0.0.1:${LOANSTREAM_REDIS_PORT:-6380}/0"
        export AIRFLOW__CELERY__BROKER_URL
    fi
    if [ -z "${AIRFLOW__CELERY__RESULT_BACKEND:-}" ]; then
        AIRFLOW__CELERY__RESULT_BACKEND="db+${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN#*+psycopg2}"
        AIRFLOW__CELERY__RESULT_BACKEND="db+postgresql${AIRFLOW__CELERY__RESULT_BACKEND#db+}"
        export AIRFLOW__CELERY__RESULT_BACKEND
    fi
fi
# Stable secrets, generated once by `make up` into .local/secrets (never in git).
if [ -z "${AIRFLOW__API_AUTH__JWT_SECRET:-}" ] && [ -f "$LOANSTREAM_LOCAL/secrets/jwt_secret" ]; then
    AIRFLOW__API_AUTH__JWT_SECRET="$(_loanstream_secret jwt_secret)"
    export AIRFLOW__API_AUTH__JWT_SECRET
fi
if [ -z "${AIRFLOW__API__SECRET_KEY:-}" ] && [ -f "$LOANSTREAM_LOCAL/secrets/secret_key" ]; then
    AIRFLOW__API__SECRET_KEY="$(_loanstream_secret secret_key)"
    export AIRFLOW__API__SECRET_KEY
fi
if [ -z "${AIRFLOW__CORE__FERNET_KEY:-}" ] && [ -f "$LOANSTREAM_LOCAL/secrets/fernet_key" ]; then
    AIRFLOW__CORE__FERNET_KEY="$(_loanstream_secret fernet_key)"
    export AIRFLOW__CORE__FERNET_KEY
fi

# Executed rather than sourced: run the given command in this environment.
if [ "${BASH_SOURCE[0]}" = "$0" ] && [ "$#" -gt 0 ]; then
    exec "$@"
fi
