"""The shared stack's settings, read from the environment ``scripts/env.sh`` exports.

Layout: everything under ``.local/`` (git-ignored): pid files in ``.local/run``, logs in
``.local/logs``, Kafka in ``.local/kafka``, Redis in ``.local/redis``, Postgres in
``.local/postgres`` (or ``/var/tmp/loanstream-<stack id>``), Airflow in ``.local/airflow``, the
schema registry's application in ``.local/registry`` (its schemas in Postgres), Prometheus in
``.local/prometheus``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AIRFLOW_COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api-server")


class ConfigError(ValueError):
    """A setting the stack cannot run with."""


def stack_id(root: Path) -> str:
    """A per-checkout id: every process ``up`` starts carries it (``LOANSTREAM_STACK_ID``)."""
    return hashlib.sha1(str(root).encode()).hexdigest()[:12]


def parse_ports(value: str) -> tuple[int, int, int]:
    """``"broker,controller,sasl"`` as three ints."""
    parts = [int(p) for p in value.split(",")]
    if len(parts) != 3:
        raise ConfigError(f"{value!r}: want broker,controller,sasl ports")
    return parts[0], parts[1], parts[2]


@dataclass(frozen=True)
class StackConfig:
    """Everything ``python -m devstack`` needs to know, from one environment."""

    root: Path
    env: Mapping[str, str]
    brokers: int
    executor: str
    celery_workers: int
    celery_concurrency: str
    sasl_ssl: bool
    kafka_ports: tuple[tuple[int, int, int], ...]  # per node: broker, controller, SASL_SSL
    kafka_heap: str
    bootstrap: str
    pg_host: str
    pg_port: int
    airflow_host: str
    airflow_port: int
    airflow_url: str
    redis_port: int
    registry_port: int
    registry_management_port: int
    registry_heap: str
    prometheus_port: int
    kafka_timeout: float
    pg_timeout: float
    airflow_timeout: float
    registry_timeout: float
    stop_timeout: float

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, root: Path = ROOT) -> StackConfig:
        """Read (and check) the settings; raises :class:`ConfigError`."""
        env = dict(os.environ if env is None else env)
        brokers = env.get("LOANSTREAM_KAFKA_BROKERS", "1")
        if brokers not in ("1", "3"):
            raise ConfigError(f"LOANSTREAM_KAFKA_BROKERS={brokers}: use 1 (the default) or 3")
        executor = env.get("LOANSTREAM_EXECUTOR", "local")
        if executor not in ("local", "celery"):
            raise ConfigError(f"LOANSTREAM_EXECUTOR={executor}: use local (the default) or celery")
        workers = env.get("LOANSTREAM_CELERY_WORKERS", "2")
        if not (workers.isdigit() and 1 <= int(workers) <= 99 and not workers.startswith("0")):
            raise ConfigError(f"LOANSTREAM_CELERY_WORKERS={workers}: use 1..99")
        node1 = (
            int(env["LOANSTREAM_KAFKA_PORT"]),
            int(env["LOANSTREAM_KAFKA_CONTROLLER_PORT"]),
            int(env["LOANSTREAM_KAFKA_SASL_PORT"]),
        )
        ports = (node1,)
        if brokers == "3":
            ports = (
                node1,
                parse_ports(env["LOANSTREAM_KAFKA_NODE2_PORTS"]),
                parse_ports(env["LOANSTREAM_KAFKA_NODE3_PORTS"]),
            )
        heap = env.get("LOANSTREAM_KAFKA_HEAP_OPTS", "-Xms512m -Xmx1g")
        if brokers == "3":
            heap = env.get("LOANSTREAM_KAFKA_CLUSTER_HEAP_OPTS") or "-Xms256m -Xmx512m"
        host = env.get("LOANSTREAM_AIRFLOW_HOST", "127.0.0.1")
        port = int(env.get("LOANSTREAM_AIRFLOW_PORT", "8080"))
        return cls(
            root=root,
            env=env,
            brokers=int(brokers),
            executor=executor,
            celery_workers=int(workers),
            celery_concurrency=env.get("AIRFLOW__CELERY__WORKER_CONCURRENCY")
            or env.get("LOANSTREAM_CELERY_CONCURRENCY", "4"),
            sasl_ssl=env.get("LOANSTREAM_KAFKA_SASL_SSL", "0") == "1",
            kafka_ports=ports,
            kafka_heap=heap,
            bootstrap=env.get("LOANSTREAM_BOOTSTRAP_SERVERS", f"127.0.0.1:{node1[0]}"),
            pg_host=env.get("LOANSTREAM_PG_HOST", "127.0.0.1"),
            pg_port=int(env.get("LOANSTREAM_PG_PORT", "5433")),
            airflow_host=host,
            airflow_port=port,
            airflow_url=env.get("LOANSTREAM_AIRFLOW_URL", f"http://{host}:{port}"),
            redis_port=int(env.get("LOANSTREAM_REDIS_PORT", "6380")),
            registry_port=int(env.get("LOANSTREAM_SCHEMA_REGISTRY_PORT", "8081")),
            registry_management_port=int(env.get("LOANSTREAM_SCHEMA_REGISTRY_MANAGEMENT_PORT", "9000")),
            registry_heap=env.get("LOANSTREAM_SCHEMA_REGISTRY_HEAP_OPTS") or "-Xms128m -Xmx512m",
            prometheus_port=int(env.get("LOANSTREAM_PROMETHEUS_PORT", "9090")),
            kafka_timeout=float(env.get("LOANSTREAM_KAFKA_START_TIMEOUT", "120")),
            pg_timeout=float(env.get("LOANSTREAM_PG_START_TIMEOUT", "60")),
            airflow_timeout=float(env.get("LOANSTREAM_AIRFLOW_START_TIMEOUT", "240")),
            registry_timeout=float(env.get("LOANSTREAM_SCHEMA_REGISTRY_START_TIMEOUT", "120")),
            stop_timeout=float(env.get("LOANSTREAM_STOP_TIMEOUT", "40")),
        )

    # --- layout ----------------------------------------------------------------------------
    @property
    def local(self) -> Path:
        return self.root / ".local"

    @property
    def run_dir(self) -> Path:
        return self.local / "run"

    @property
    def log_dir(self) -> Path:
        return self.local / "logs"

    @property
    def kafka_dir(self) -> Path:
        return self.local / "kafka"

    @property
    def venv_bin(self) -> Path:
        return self.root / ".venv" / "bin"

    @property
    def python(self) -> Path:
        return self.venv_bin / "python"

    @property
    def stack_id(self) -> str:
        return stack_id(self.root)

    @property
    def kafka_nodes(self) -> tuple[str, ...]:
        """Service names of the Kafka nodes this mode runs."""
        return ("kafka", "kafka-2", "kafka-3")[: self.brokers]

    @property
    def celery_services(self) -> tuple[str, ...]:
        if self.executor != "celery":
            return ()
        return ("redis", *(f"celery-worker-{w}" for w in range(1, self.celery_workers + 1)))

    @property
    def airflow_services(self) -> tuple[str, ...]:
        return tuple(f"airflow-{c}" for c in AIRFLOW_COMPONENTS)

    @property
    def all_services(self) -> tuple[str, ...]:
        return ("postgres", "schema-registry", *self.kafka_nodes, *self.celery_services, *self.airflow_services,
                "prometheus")  # fmt: skip

    @property
    def registry_url(self) -> str:
        """The local registry's Confluent-compatible API (what ``scripts/env.sh`` exports as
        ``LOANSTREAM_SCHEMA_REGISTRY_URL`` unless that is set)."""
        return f"http://127.0.0.1:{self.registry_port}/apis/ccompat/v7"

    @property
    def prometheus_url(self) -> str:
        """The local Prometheus (what ``scripts/env.sh`` exports as ``LOANSTREAM_PROMETHEUS_URL``)."""
        return f"http://127.0.0.1:{self.prometheus_port}"

    def value(self, key: str, default: str = "") -> str:
        """One variable of the environment the stack was configured with."""
        return self.env.get(key, default)
