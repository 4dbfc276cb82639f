#!/usr/bin/env bash
# docker-compose only (service airflow-init): secrets generated once into the shared volume,
# the admin password, `airflow db migrate`, the loanstream schema's migrations (`loanstream
# schema migrate`), and the loanstream connections.
set -euo pipefail
S=/opt/airflow/secrets
mkdir -p "$S"
for name in jwt_secret secret_key; do
    [ -s "$S/$name" ] || python -c 'import secrets; print(secrets.token_urlsafe(32))' >"$S/$name"
done
[ -s "$S/fernet_key" ] || python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' >"$S/fernet_key"
python - <<'PY'
import json, os

from loanstream.config import Settings
from loanstream.runs.watch import watcher_connection_extra

with open("/opt/airflow/secrets/passwords.json", "w") as f:
    json.dump({"admin": os.environ["LOANSTREAM_AIRFLOW_ADMIN_PASSWORD"]}, f)
conns = {
    "loanstream_kafka": {"conn_type": "kafka",
                         "extra": json.dumps({"bootstrap.servers": os.environ["LOANSTREAM_BOOTSTRAP_SERVERS"]})},
    "loanstream_kafka_watcher": {"conn_type": "kafka",
                                 "extra": json.dumps(watcher_connection_extra(
                                     {"bootstrap.servers": os.environ["LOANSTREAM_BOOTSTRAP_SERVERS"]},
                                     Settings.from_env().watch_group))},
    "loanstream_postgres": {"conn_type": "postgres", "host": os.environ["LOANSTREAM_PG_HOST"],
                            "port": int(os.environ["LOANSTREAM_PG_PORT"]),
                            "login": os.environ["LOANSTREAM_PG_USER"],
                            "password": os.environ["LOANSTREAM_PG_PASSWORD"],
                            "schema": os.environ["LOANSTREAM_PG_DB"]},
}
with open("/tmp/connections.json", "w") as f:
    json.dump(conns, f)
PY
airflow db migrate
loanstream schema migrate
airflow connections import --overwrite /tmp/connections.json
rm -f /tmp/connections.json
echo "airflow-init: done"
