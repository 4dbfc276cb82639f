#!/usr/bin/env bash
# docker-compose only (service airflow-init): secrets generated once into the shared volume,
# the admin password, `airflow db migrate`, the loanstream schema's migrations (`loanstream
# schema migrate`), Kafka's role users and ACLs, and the loanstream connections (one per Kafka role).
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
from loanstream.kafka.acls import acl_table, client_security, provision
from loanstream.kafka.topics import ensure_topic
from loanstream.runs.watch import watcher_connection_extra

with open("/opt/airflow/secrets/passwords.json", "w") as f:
    json.dump({"admin": os.environ["LOANSTREAM_AIRFLOW_ADMIN_PASSWORD"]}, f)
# Kafka's roles (as `make up` makes them): their SCRAM users and ACLs, the scored topic (the
# sink may not create topics), logged in as the admin (LOANSTREAM_KAFKA_SASL_*: compose env)
settings = Settings.from_env()
passwords = {role: os.environ[f"LOANSTREAM_KAFKA_{role.upper()}_PASSWORD"]
             for role in ("producer", "sink", "watcher")}
provision(settings.kafka_config(), passwords,
          acl_table(settings.scored_topic, settings.consumer_group, settings.watch_group))
ensure_topic(settings.kafka_config(), settings.scored_topic, partitions=settings.partitions, use_rpk=False)
passwords["admin"] = os.environ["LOANSTREAM_KAFKA_ADMIN_PASSWORD"]
conns = {}
for role, password in passwords.items():
    extra = {"bootstrap.servers": os.environ["LOANSTREAM_BOOTSTRAP_SERVERS"], **client_security(role, password)}
    if role == "watcher":
        extra = watcher_connection_extra(extra, settings.watch_group)
    conns[f"loanstream_kafka_{role}"] = {"conn_type": "kafka", "extra": json.dumps(extra)}
conns["loanstream_postgres"] = {"conn_type": "postgres", "host": os.environ["LOANSTREAM_PG_HOST"],
                                "port": int(os.environ["LOANSTREAM_PG_PORT"]),
                                "login": os.environ["LOANSTREAM_PG_USER"],
                                "password": os.environ["LOANSTREAM_PG_PASSWORD"],
                                "schema": os.environ["LOANSTREAM_PG_DB"]}
fd = os.open("/tmp/connections.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    json.dump(conns, f)
PY
airflow db migrate
loanstream schema migrate
airflow connections import --overwrite /tmp/connections.json
rm -f /tmp/connections.json
echo "airflow-init: done"
