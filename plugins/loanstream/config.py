"""All loanstream configuration, read from environment variables with documented defaults.

Every setting lives here and nowhere else. Credentials are never defaulted in code: they come
from the environment (see `.env.example`) or, inside Airflow, from the connections
``loanstream_kafka_<role>`` (admin, producer, sink, watcher) and ``loanstream_postgres``.

| variable                              | default                              |
|---------------------------------------|--------------------------------------|
| LOANSTREAM_BOOTSTRAP_SERVERS          | 127.0.0.1:9092                       |
| LOANSTREAM_TOPIC                      | loan_applications                    |
| LOANSTREAM_SCORED_TOPIC               | scored-loans                         |
| LOANSTREAM_TOPIC_PATTERN              | any legal Kafka topic name (the topics a run may use besides the rules of ``loanstream.runs.params``: scored topic refused, no leading ``_`` or ``-``) |
| LOANSTREAM_MAX_LINE_BYTES             | 1048576 (1 MiB: a CSV line, its line break included, longer than this fails with its row) |
| LOANSTREAM_PARTITIONS                 | 3                                    |
| LOANSTREAM_RETENTION_MS               | 604800000 (7 days)                   |
| LOANSTREAM_CONSUMER_GROUP             | loanstream-scorer                    |
| LOANSTREAM_NATIVE_SCORING             | auto (native scorer if built; on, off) |
| LOANSTREAM_WAIT_FOR_CONSUMERS_SECONDS | 60 (a run's producer waits, after its first event, this long at most for the consumer tasks; 0 = no wait) |
| LOANSTREAM_PRODUCER_STALE_SECONDS     | 60 (a run's consumers end when its producer's heartbeat is older; 3x while a retry is pending) |
| LOANSTREAM_PG_DSN                     | postgresql://loanstream@127.0.0.1:5433/loanstream |
| LOANSTREAM_HOME                       | the project root (where include/ is) |
| LOANSTREAM_REPORTS_DIR                | $LOANSTREAM_HOME/.local/reports      |
| LOANSTREAM_DATA_DIRS                  | $LOANSTREAM_HOME/include/data:$LOANSTREAM_HOME/data/landing |
| LOANSTREAM_KAFKA_CLIENT_CONFIG        | (unset; ``scripts/env.sh``: ``.local/kafka/admin.json``, the admin's login written by ``make up``, 0600) a JSON file of librdkafka settings (SASL login, TLS) every client of the CLI and the tests starts from; a missing file is skipped |
| LOANSTREAM_KAFKA_SECURITY_PROTOCOL    | (unset: PLAINTEXT; these five override the file's keys) |
| LOANSTREAM_KAFKA_SASL_MECHANISM       | (unset)                              |
| LOANSTREAM_KAFKA_SASL_USERNAME        | (unset)                              |
| LOANSTREAM_KAFKA_SASL_PASSWORD        | (unset)                              |
| LOANSTREAM_KAFKA_SSL_CA_LOCATION      | (unset)                              |
| LOANSTREAM_SHARED_DATA                | ../shared/data (tests and benchmarks) |
| LOANSTREAM_CONNECTION_FALLBACK        | none (a missing Airflow connection fails the task; ``env``: use the LOANSTREAM_* settings above instead, logged as a warning) |
| LOANSTREAM_WATCH_GROUP                | loanstream-watcher (the consumer group of the AssetWatcher that wakes ``loan_stream_watcher``; never the sink's) |
| LOANSTREAM_WATCH_CACHE_SIZE           | 10000 (run ids the watcher's filter remembers, least recently used forgotten first; its memory stays bounded whatever the headers) |
| LOANSTREAM_METRICS_RUNS               | 20 (the metrics show the state of the newest runs, and the lag of their topics) |
| LOANSTREAM_METRICS_TOKEN              | (unset: /loanstream/metrics needs an Airflow login; set, generated into .env by ``make up``: a bearer token that opens the metrics and nothing else) |
| LOANSTREAM_SCHEMA_REGISTRY_URL        | http://127.0.0.1:8081/apis/ccompat/v7 (a Confluent-compatible schema registry API: the local Apicurio Registry; Redpanda's under docker compose) |

``LOANSTREAM_DATA_DIRS`` (``os.pathsep``-separated) are the only directories runs read CSVs
from (see :mod:`loanstream.paths`); the landing directory ``data/landing`` is created by
``make setup`` and is where files to stream are put.

The Postgres password, when needed, comes from the DSN or from libpq's ``PGPASSWORD``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent

# Kafka's legal topic names (its own check): 1-249 of a-z A-Z 0-9 . _ - ("." and ".." aside)
KAFKA_TOPIC_NAME = r"^[a-zA-Z0-9._-]{1,249}$"
MAX_LINE_BYTES = 1 << 20  # the default of LOANSTREAM_MAX_LINE_BYTES


def _default_home() -> Path:
    """The project root: the first parent of the package that holds ``include/``."""
    for parent in _PACKAGE_DIR.parents:
        if (parent / "include").is_dir():
            return parent
    return Path.cwd()


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _client_config_file() -> dict[str, str]:
    """The settings of ``LOANSTREAM_KAFKA_CLIENT_CONFIG`` (none when unset or not written yet)."""
    raw = os.environ.get("LOANSTREAM_KAFKA_CLIENT_CONFIG", "").strip()
    if not raw or not Path(raw).is_file():
        return {}
    try:
        found = json.loads(Path(raw).read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"LOANSTREAM_KAFKA_CLIENT_CONFIG={raw}: not a JSON object ({exc})") from None
    if not isinstance(found, dict):
        raise ValueError(f"LOANSTREAM_KAFKA_CLIENT_CONFIG={raw}: not a JSON object")
    return {str(k): str(v) for k, v in found.items() if isinstance(v, str | int | float | bool)}


def _positive(name: str, default: int) -> int:
    raw = _env(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{name} must be a positive whole number of bytes, got {raw[:40]!r}")
    return value


KAFKA_SECURITY_ENV = {
    "LOANSTREAM_KAFKA_SECURITY_PROTOCOL": "security.protocol",
    "LOANSTREAM_KAFKA_SASL_MECHANISM": "sasl.mechanism",
    "LOANSTREAM_KAFKA_SASL_USERNAME": "sasl.username",
    "LOANSTREAM_KAFKA_SASL_PASSWORD": "sasl.password",
    "LOANSTREAM_KAFKA_SSL_CA_LOCATION": "ssl.ca.location",
}


@dataclass(frozen=True)
class Settings:
    """A snapshot of the loanstream environment."""

    bootstrap_servers: str = "127.0.0.1:9092"
    topic: str = "loan_applications"
    scored_topic: str = "scored-loans"
    topic_pattern: str = KAFKA_TOPIC_NAME  # the topics a run may use (loanstream.runs.params)
    max_line_bytes: int = MAX_LINE_BYTES  # longest CSV line read, its line break included
    partitions: int = 3
    retention_ms: int = 7 * 24 * 3600 * 1000
    consumer_group: str = "loanstream-scorer"
    native_scoring: str = "auto"  # loanstream.native: auto, on, off
    native_encoding: str = "auto"  # the producer's native event encoder: auto, on, off
    wait_for_consumers_seconds: float = 60.0
    producer_stale_seconds: float = 60.0
    pg_dsn: str = "postgresql://loanstream@127.0.0.1:5433/loanstream"
    home: Path = field(default_factory=_default_home)
    reports_dir: Path | None = None
    kafka_security: dict[str, str] = field(default_factory=dict, repr=False)  # holds a password
    data_dirs: tuple[Path, ...] = ()
    connection_fallback: str = "none"  # none | env (loanstream.airflow.hooks)
    watch_group: str = "loanstream-watcher"
    watch_cache_size: int = 10_000  # loanstream.runs.watch.DEFAULT_CACHE_SIZE
    schema_registry_url: str = "http://127.0.0.1:8081/apis/ccompat/v7"
    metrics_runs: int = 20
    metrics_token: str = field(default="", repr=False)  # a credential: never in a repr or log

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(_env("LOANSTREAM_HOME", str(_default_home())))
        reports = os.environ.get("LOANSTREAM_REPORTS_DIR", "").strip()
        security = _client_config_file()
        file_bootstrap = security.pop("bootstrap.servers", "") or cls.bootstrap_servers
        security.update(
            {
                key: os.environ[var].strip()
                for var, key in KAFKA_SECURITY_ENV.items()
                if os.environ.get(var, "").strip()
            }
        )
        return cls(
            bootstrap_servers=_env("LOANSTREAM_BOOTSTRAP_SERVERS", file_bootstrap),
            topic=_env("LOANSTREAM_TOPIC", cls.topic),
            scored_topic=_env("LOANSTREAM_SCORED_TOPIC", cls.scored_topic),
            topic_pattern=_env("LOANSTREAM_TOPIC_PATTERN", cls.topic_pattern),
            max_line_bytes=_positive("LOANSTREAM_MAX_LINE_BYTES", cls.max_line_bytes),
            partitions=int(_env("LOANSTREAM_PARTITIONS", str(cls.partitions))),
            retention_ms=int(_env("LOANSTREAM_RETENTION_MS", str(cls.retention_ms))),
            consumer_group=_env("LOANSTREAM_CONSUMER_GROUP", cls.consumer_group),
            native_scoring=_env("LOANSTREAM_NATIVE_SCORING", cls.native_scoring).lower(),
            native_encoding=_env("LOANSTREAM_NATIVE_ENCODING", cls.native_encoding).lower(),
            wait_for_consumers_seconds=float(
                _env("LOANSTREAM_WAIT_FOR_CONSUMERS_SECONDS", str(cls.wait_for_consumers_seconds))
            ),
            producer_stale_seconds=float(
                _env("LOANSTREAM_PRODUCER_STALE_SECONDS", str(cls.producer_stale_seconds))
            ),
            pg_dsn=_env("LOANSTREAM_PG_DSN", cls.pg_dsn),
            home=home,
            reports_dir=Path(reports) if reports else home / ".local" / "reports",
            kafka_security=security,
            data_dirs=_data_dirs(home),
            connection_fallback=_env("LOANSTREAM_CONNECTION_FALLBACK", cls.connection_fallback)
            .strip()
            .lower(),
            watch_group=_env("LOANSTREAM_WATCH_GROUP", cls.watch_group),
            watch_cache_size=max(1, int(_env("LOANSTREAM_WATCH_CACHE_SIZE", str(cls.watch_cache_size)))),
            schema_registry_url=_env("LOANSTREAM_SCHEMA_REGISTRY_URL", cls.schema_registry_url).rstrip("/"),
            metrics_runs=max(1, min(int(_env("LOANSTREAM_METRICS_RUNS", str(cls.metrics_runs))), 100)),
            metrics_token=_env("LOANSTREAM_METRICS_TOKEN", ""),
        )

    def kafka_config(self, **overrides: str | int | bool) -> dict[str, str | int | bool]:
        """librdkafka client config: brokers, any SASL/TLS settings, then ``overrides``."""
        config: dict[str, str | int | bool] = {"bootstrap.servers": self.bootstrap_servers}
        config.update(self.kafka_security)
        config.update(overrides)
        return config

    @property
    def sample_csv(self) -> Path:
        """The shipped, generated LendingClub-schema sample."""
        return self.home / "include" / "data" / "loan_applications_sample.csv"

    @property
    def sql_dir(self) -> Path:
        return self.home / "include" / "sql"

    @property
    def migrations_dir(self) -> Path:
        """The versioned schema migrations (``loanstream.store.migrations``)."""
        return self.sql_dir / "migrations"

    @property
    def profiles_dir(self) -> Path:
        """The generator's tables, as data (``include/profiles``)."""
        return self.home / "include" / "profiles"

    @property
    def landing_dir(self) -> Path:
        """Where files to stream are put (one of the default data directories)."""
        return landing_dir(self.home)

    @property
    def allowed_data_dirs(self) -> tuple[Path, ...]:
        """The directories CSVs may be read from (``LOANSTREAM_DATA_DIRS``)."""
        return self.data_dirs or default_data_dirs(self.home)


def landing_dir(home: Path) -> Path:
    return home / "data" / "landing"


def default_data_dirs(home: Path) -> tuple[Path, ...]:
    """The shipped ``include/data`` and the landing directory."""
    return (home / "include" / "data", landing_dir(home))


def _data_dirs(home: Path) -> tuple[Path, ...]:
    raw = os.environ.get("LOANSTREAM_DATA_DIRS", "").strip()
    if not raw:
        return default_data_dirs(home)
    parts = [Path(part.strip()) for part in raw.split(os.pathsep) if part.strip()]
    return tuple(part if part.is_absolute() else home / part for part in parts)


def shared_sample_csv() -> Path:
    """The real LendingClub sample for tests and benchmarks (never copied into the project).

    ``LOANSTREAM_SHARED_DATA`` (the file, or its folder) if set, else
    ``../shared/data/lending_club_sample.csv`` beside the project.
    """
    override = os.environ.get("LOANSTREAM_SHARED_DATA", "").strip()
    if override:
        path = Path(override)
        return path / "lending_club_sample.csv" if path.is_dir() else path
    return _default_home().parent / "shared" / "data" / "lending_club_sample.csv"


def redact_dsn(dsn: str) -> str:
    """A DSN fit for logs: any password (user:pw@, ?password=, password=) replaced by ``***``."""
    dsn = re.sub(r"([?&]password=)[^&]*", r"\1***", dsn, flags=re.IGNORECASE)
    if "://" in dsn and "@" in dsn:
        scheme, rest = dsn.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        if ":" in creds:
            user = creds.split(":", 1)[0]
            return f"{scheme}://{user}:***@{host}"
        return dsn
    # key=value form; libpq quotes a value with spaces: password='a b\'c'
    return re.sub(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", dsn, flags=re.IGNORECASE)
