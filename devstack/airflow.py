"""Airflow 3's services (scheduler, dag-processor, triggerer, api-server), their health, and the
shared stack's provisioning (admin password, connections, ``airflow db migrate``).

The component command lines are written here once: the shared stack and the cluster tests'
private Celery stack start them through :class:`AirflowComponent`. Airflow itself is never
imported: everything runs the ``airflow`` CLI of the project's .venv.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devstack.process import Service, ServiceError
from loanstream.config import Settings
from loanstream.kafka.acls import client_security
from loanstream.runs.watch import watcher_connection_extra

HEALTH_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
# the service a health component's failure points at
HEALTH_SERVICE = {
    "scheduler": "airflow-scheduler",
    "dag_processor": "airflow-dag-processor",
    "triggerer": "airflow-triggerer",
}
# the files in .local/secrets and the variables scripts/env.sh exports them as
SECRET_FILES = (
    ("jwt_secret", "AIRFLOW__API_AUTH__JWT_SECRET"),
    ("secret_key", "AIRFLOW__API__SECRET_KEY"),
    ("fernet_key", "AIRFLOW__CORE__FERNET_KEY"),
)


def unhealthy(url: str) -> list[str] | str:
    """The components ``url``'s ``/api/v2/monitor/health`` reports unhealthy (empty: all
    healthy), or why it did not answer."""
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=3) as resp:
            health = json.load(resp)
    except Exception as exc:  # noqa: BLE001 - any failure means "not healthy yet"
        return f"airflow: {exc}"
    return [n for n in HEALTH_COMPONENTS if (health.get(n) or {}).get("status") != "healthy"]


def healthy(url: str) -> bool:
    """Do the API server and every component report healthy?"""
    return unhealthy(url) == []


def component_argv(airflow: Path, component: str, host: str | None = None, port: int | None = None) -> list[str]:
    """The command line of one component (``api-server`` on ``host``/``port`` when given)."""
    argv = [str(airflow), component]
    if component == "api-server" and host is not None and port is not None:
        argv += ["--host", host, "--port", str(port)]
    return argv


class AirflowComponent(Service):
    """One Airflow component in a session of its own (service ``airflow-<component>``)."""

    def __init__(
        self,
        airflow: Path,
        component: str,
        run_dir: Path,
        log_dir: Path,
        *,
        host: str | None = None,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        stack_id: str | None = None,
    ) -> None:
        super().__init__(f"airflow-{component}", run_dir, log_dir, stack_id=stack_id, env=env, cwd=cwd)
        self.airflow = airflow
        self.component = component
        self.host = host
        self.port = port

    def argv(self) -> list[str]:
        return component_argv(self.airflow, self.component, self.host, self.port)


def run_logged(argv: list[str], log_path: Path, env: Mapping[str, str] | None = None,
               cwd: Path | None = None, timeout: float = 600) -> int:
    """Run ``argv`` to completion, output appended to ``log_path``; returns its exit code."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        return subprocess.run(
            argv, stdout=out, stderr=subprocess.STDOUT, env=None if env is None else dict(env),
            cwd=cwd, timeout=timeout, check=False,
        ).returncode  # fmt: skip


def db_migrate(airflow: Path, log_path: Path, env: Mapping[str, str] | None = None,
               cwd: Path | None = None) -> None:
    """``airflow db migrate`` (the metadata database's schema)."""
    if run_logged([str(airflow), "db", "migrate"], log_path, env, cwd) != 0:
        raise ServiceError("airflow-migrate", "`airflow db migrate` failed", log_path)


def ensure_secrets(secrets_dir: Path, environ: dict[str, str]) -> None:
    """The JWT secret, API secret key and Fernet key, made once per checkout (never in git),
    exported into ``environ`` where unset (as ``scripts/env.sh`` reads them)."""
    import base64
    import secrets as random

    secrets_dir.mkdir(parents=True, exist_ok=True)
    secrets_dir.chmod(0o700)
    for name, var in SECRET_FILES:
        path = secrets_dir / name
        if not path.is_file() or not path.read_text().strip():
            raw = random.token_bytes(32)
            value = (base64.urlsafe_b64encode(raw) if name == "fernet_key" else base64.b64encode(raw))
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(value)
        environ.setdefault(var, path.read_text().strip())


# The Kafka connection of each role (its SCRAM user is the role's name: loanstream.kafka.acls)
KAFKA_CONNECTIONS = {
    "admin": ("loanstream_kafka_admin", "topics, ACLs and SCRAM users (create_topic; a super user)"),
    "producer": ("loanstream_kafka_producer", "writes the run's events (produce_events)"),
    "sink": ("loanstream_kafka_sink", "reads the events, writes scored-loans (wait_for_events, score_events)"),
    "watcher": ("loanstream_kafka_watcher", "reads the topic for the AssetWatcher and the Loanstream page"),
}


def kafka_connection_extra(env: Mapping[str, str], role: str) -> dict[str, str]:
    """What ``role``'s Kafka connection carries: the SCRAM login of the role's user on the
    loopback SASL_PLAINTEXT listener(s), or on the SASL_SSL one(s) with the local CA
    (``LOANSTREAM_KAFKA_SASL_SSL=1``); then any ``LOANSTREAM_KAFKA_SECURITY_*`` overrides."""
    from devstack.kafka_stack import role_passwords

    password = role_passwords(env)[role]
    extra = {"bootstrap.servers": env["LOANSTREAM_BOOTSTRAP_SERVERS"], **client_security(role, password)}
    if env.get("LOANSTREAM_KAFKA_SASL_SSL", "0") == "1":
        ports = [env["LOANSTREAM_KAFKA_SASL_PORT"]]
        if env.get("LOANSTREAM_KAFKA_BROKERS", "1") == "3":
            ports += [env[f"LOANSTREAM_KAFKA_NODE{n}_PORTS"].split(",")[2] for n in (2, 3)]
        extra = {
            "bootstrap.servers": ",".join(f"127.0.0.1:{p}" for p in ports),
            **client_security(role, password, "SASL_SSL"),
            "ssl.ca.location": env["LOANSTREAM_LOCAL"] + "/kafka/tls/ca.pem",
        }
    for var, key in {
        "LOANSTREAM_KAFKA_SECURITY_PROTOCOL": "security.protocol",
        "LOANSTREAM_KAFKA_SASL_MECHANISM": "sasl.mechanism",
        "LOANSTREAM_KAFKA_SSL_CA_LOCATION": "ssl.ca.location",
    }.items():
        if env.get(var, "").strip():
            extra[key] = env[var].strip()
    return extra


def connections(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The loanstream connections ``make up`` imports into Airflow: one Kafka connection per
    role, and the results database."""
    conns: dict[str, dict[str, Any]] = {}
    for role, (conn_id, what) in KAFKA_CONNECTIONS.items():
        extra = kafka_connection_extra(env, role)
        if role == "watcher":  # the AssetWatcher's own consumer group (never the sink's)
            extra = watcher_connection_extra(extra, Settings.from_env().watch_group)
        conns[conn_id] = {
            "conn_type": "kafka",
            "description": f"loanstream Kafka, SCRAM user {role}: {what}",
            "extra": json.dumps(extra),
        }
    conns["loanstream_postgres"] = {
        "conn_type": "postgres",
        "description": "loanstream results database (from LOANSTREAM_PG_*)",
        "host": env["LOANSTREAM_PG_HOST"],
        "port": int(env["LOANSTREAM_PG_PORT"]),
        "login": env["LOANSTREAM_PG_USER"],
        "password": env["LOANSTREAM_PG_PASSWORD"],
        "schema": env["LOANSTREAM_PG_DB"],
    }
    return conns


def provision(airflow: Path, run_dir: Path, log_dir: Path, env: Mapping[str, str]) -> None:
    """The admin password (SimpleAuthManager), ``db migrate``, and the loanstream connections."""
    passwords = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    passwords.parent.mkdir(parents=True, exist_ok=True)
    old_umask = os.umask(0o077)
    try:
        passwords.write_text(json.dumps({"admin": env["LOANSTREAM_AIRFLOW_ADMIN_PASSWORD"]}) + "\n")
        conns = run_dir / "connections.json"
        conns.write_text(json.dumps(connections(env), indent=2))
    finally:
        os.umask(old_umask)
    log_path = log_dir / "airflow-migrate.log"
    try:
        db_migrate(airflow, log_path, env)
        argv = [str(airflow), "connections", "import", "--overwrite", str(conns)]
        if run_logged(argv, log_path, env) != 0:
            raise ServiceError("airflow-migrate", "importing connections failed", log_path)
    finally:
        conns.unlink(missing_ok=True)
