"""A private Airflow with the CeleryExecutor for the cluster tests, sharing nothing with the
shared stack.

Its own Postgres (``PrivatePostgres``: Airflow's metadata database, the Celery result backend
and the loanstream results database), its own Redis (Debian's ``redis-server``, a random
password, no persistence), Airflow's scheduler, dag-processor, triggerer and api-server on free
ports, and two Celery workers, each in a session of its own so one can be SIGKILLed whole, each
with its own hostname (``loanstream.airflow.workers.hostname``, as ``make up`` gives them). The
DAGs and plugins are this checkout's; Kafka is the private cluster of the caller. Every process
is one of devstack's services (``devstack/airflow.py``, ``devstack/celery.py``,
``devstack/postgres.py``: the command lines of ``make up``).

Every process is stopped at the end and the session fails if one is left.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg2

from devstack import airflow
from devstack.airflow import AirflowComponent
from devstack.celery import CeleryWorker, Redis, workers_answering
from devstack.kafka import KafkaCluster
from devstack.process import Service, free_port
from loanstream.config import KAFKA_SECURITY_ENV, Settings
from loanstream.runs.watch import watcher_connection_extra
from loanstream.store import migrations
from tests.chaos.services import PrivatePostgres, private_dir, provision_roles, running
from tests.helpers import REPO

AIRFLOW = Path(sys.executable).parent / "airflow"
HEARTBEAT_TIMEOUT_S = 20  # a SIGKILLed worker's task is failed (and retried) after this
STOP_TIMEOUT_S = 20


class CeleryAirflow:
    """The private stack; ``start()`` brings it up, ``stop()`` ends every process of it."""

    name = "Airflow"

    def __init__(self, kafka: KafkaCluster, workers: int = 2, concurrency: int = 2) -> None:
        self.base = private_dir("airflow")
        self.bootstrap = kafka.bootstrap
        self.kafka_roles = provision_roles(kafka)  # each role's login: one connection each
        self.pg = PrivatePostgres(self._dir("pg"))
        self.api_port = free_port()
        self.redis_port = free_port()
        self.redis_password = secrets.token_urlsafe(18)
        self.admin_password = secrets.token_urlsafe(18)
        self.data_dir = self._dir("data")
        self.workers = workers
        self.concurrency = concurrency
        self.processes: list[Service] = []
        self.worker_procs: dict[str, CeleryWorker] = {}
        self.token: str | None = None

    def _dir(self, name: str) -> Path:
        path = self.base / name
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o755)
        return path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def loanstream_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pg.port}/loanstream"

    def _env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "LOANSTREAM_"))
            and k not in ("AIRFLOW_HOME", "PYTHONPATH")
        }
        home = self._dir("airflow_home")
        passwords = home / "passwords.json"
        passwords.write_text(json.dumps({"admin": self.admin_password}))
        meta = f"postgresql+psycopg2://postgres@127.0.0.1:{self.pg.port}/airflow"
        fernet = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        env.update(
            {
                "PYTHONPATH": f"{REPO / 'plugins'}:{REPO}",
                "PYTHONUNBUFFERED": "1",
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__PARALLELISM": "16",
                "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple."
                "simple_auth_manager.SimpleAuthManager",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__CORE__FERNET_KEY": fernet,
                "AIRFLOW__API__BASE_URL": self.url,
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta,
                "AIRFLOW__CELERY__BROKER_URL": (
                    f"redis://:{self.redis_password}@127.0.0.1:{self.redis_port}/0"
                ),
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + meta.replace("+psycopg2", ""),
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.concurrency),
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT_S),
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
                **self._kafka_connections(),
                "AIRFLOW_CONN_LOANSTREAM_POSTGRES": json.dumps(
                    {
                        "conn_type": "postgres",
                        "host": "127.0.0.1",
                        "port": self.pg.port,
                        "login": "postgres",
                        "schema": "loanstream",
                    }
                ),
                "LOANSTREAM_BOOTSTRAP_SERVERS": self.bootstrap,
                # the CLI's login: the cluster's admin, from the environment (never argv)
                **{var: self.kafka_roles["admin"].get(key, "") for var, key in KAFKA_SECURITY_ENV.items()},
                "LOANSTREAM_PG_DSN": self.loanstream_dsn,
                "LOANSTREAM_DATA_DIRS": f"{self.data_dir}:{REPO / 'include' / 'data'}",
                "LOANSTREAM_REPORTS_DIR": str(self._dir("reports")),
            }
        )
        return env

    def _kafka_connections(self) -> dict[str, str]:
        """``AIRFLOW_CONN_*`` of each role's Kafka connection (as ``make up`` imports them)."""
        out = {}
        for role, (conn_id, _) in airflow.KAFKA_CONNECTIONS.items():
            extra = self.kafka_roles[role]
            if role == "watcher":
                extra = watcher_connection_extra(extra, Settings.from_env().watch_group)
            out[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps({"conn_type": "kafka", "extra": extra})
        return out

    def _add(self, service: Service) -> Service:
        service.stop_timeout = STOP_TIMEOUT_S
        self.processes.append(service)
        return service

    def start(self) -> float:
        t0 = time.monotonic()
        self.pg.start()
        conn = psycopg2.connect(self.pg.dsn)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE airflow")
            cur.execute("CREATE DATABASE loanstream")
        conn.close()
        conn = psycopg2.connect(self.loanstream_dsn)
        try:
            migrations.migrate(conn, REPO / "include" / "sql" / "migrations")  # as make up does
        finally:
            conn.close()

        redis = self._add(Redis(self._dir("redis"), self.redis_port, self.redis_password,
                                self.base, self.base))  # fmt: skip
        redis.start(30)

        env = self._env()
        airflow.db_migrate(AIRFLOW, self.base / "airflow-migrate.log", env, cwd=self.base)
        for component in ("scheduler", "dag-processor", "triggerer", "api-server"):
            self._add(AirflowComponent(AIRFLOW, component, self.base, self.base, env=env,
                                       cwd=self.base)).launch()  # fmt: skip
        for n in range(1, self.workers + 1):
            worker = CeleryWorker(AIRFLOW, n, self.concurrency, self.base, self.base, env=env,
                                  cwd=self.base)  # fmt: skip
            self._add(worker).launch()
            self.worker_procs[worker.hostname] = worker
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            for proc in self.processes:
                if not proc.running():
                    raise RuntimeError(f"{proc.name} exited at start: {proc.log_tail()}")
            if airflow.healthy(self.url) and self.celery_workers() >= self.workers:
                self._login()
                return time.monotonic() - t0
            time.sleep(2)
        tails = "\n".join(f"{p.name}: {p.log_tail(8)}" for p in self.processes)
        raise RuntimeError(f"private Celery Airflow not healthy in 300 s:\n{tails}")

    def celery_workers(self) -> int:
        return workers_answering(
            f"redis://:{self.redis_password}@127.0.0.1:{self.redis_port}/0", timeout=1.5
        )

    def _login(self) -> None:
        body = self.request(
            "POST", "/auth/token", {"username": "admin", "password": self.admin_password}
        )
        self.token = body["access_token"]

    def request(self, method: str, path: str, body: object | None = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def metadata(self, sql: str, params: tuple = ()) -> list[tuple]:
        conn = psycopg2.connect(f"postgresql://postgres@127.0.0.1:{self.pg.port}/airflow")
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        finally:
            conn.close()

    def restart_worker(self, hostname: str) -> None:
        self.worker_procs[hostname].launch()

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()
        self.pg.stop()

    def leftovers(self) -> list[int]:
        return [pid for p in [*self.processes, self.pg] for pid in p.leftovers()]


@contextlib.contextmanager
def running_celery_airflow(kafka: KafkaCluster) -> Iterator[CeleryAirflow]:
    import pytest

    if shutil.which("redis-server") is None:
        pytest.fail("redis-server not found: run `make setup` (it installs Debian's redis-server)")
    try:
        import airflow.providers.celery  # noqa: F401
    except ImportError:
        pytest.fail("apache-airflow-providers-celery is not installed: run `make setup`")
    with running(CeleryAirflow(kafka)) as stack:
        yield stack
