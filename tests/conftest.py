"""Shared fixtures for every test directory.

The environment is loaded as `make` loads it: ``.env`` if present, then ``.env.example`` for
anything unset (the real environment always wins), so ``.venv/bin/pytest`` run by hand after
``make up`` talks to the same services. (``scripts/env.sh .venv/bin/pytest`` also exports the
derived Airflow settings: AIRFLOW_HOME, AIRFLOW__*.)

Services policy: tests marked ``integration``/``chaos`` need Kafka and Postgres, ``e2e`` and
``browser`` also Airflow. When one is down such tests FAIL (never skip) with
"... run `make up` first".

Fixtures: ``settings``, ``kafka_bootstrap``, ``kafka_config``, ``kafka_admin``,
``resources`` (topics, consumer groups and schemas deleted after the test),
``unique_topic`` (factory), ``pg_dsn``, ``pg_conn``, ``airflow_url``, ``airflow_token``,
``airflow_api``, ``dag_runner``, ``shared_csv``, ``schema_registry_url`` (the registry's
Confluent-compatible API; fails with "run `make up` first" when it does not answer).
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))  # airflow_api
from devstack import envfile  # noqa: E402

envfile.load(ROOT)

from loanstream.config import Settings  # noqa: E402

NEEDS = {
    "integration": ("kafka", "postgres"),
    "chaos": ("kafka", "postgres"),
    "cluster": ("postgres",),
    "e2e": ("kafka", "postgres", "airflow"),
    "browser": ("kafka", "postgres", "airflow"),
}
_service_errors: dict[str, str | None] = {}


def _airflow_url() -> str:
    return os.environ.get("LOANSTREAM_AIRFLOW_URL") or (
        f"http://{os.environ.get('LOANSTREAM_AIRFLOW_HOST', '127.0.0.1')}:"
        f"{os.environ.get('LOANSTREAM_AIRFLOW_PORT', '8080')}"
    )


def _probe(service: str, settings: Settings) -> str | None:
    """None when the service answers, else why not."""
    if service == "kafka":
        from confluent_kafka.admin import AdminClient

        try:
            meta = AdminClient(settings.kafka_config(log_level=0)).list_topics(timeout=5)
            return None if meta.brokers else "no brokers in metadata"
        except Exception as exc:  # noqa: BLE001
            return f"Kafka at {settings.bootstrap_servers}: {exc}"
    if service == "postgres":
        import psycopg2

        try:
            psycopg2.connect(settings.pg_dsn, connect_timeout=5).close()
            return None
        except Exception as exc:  # noqa: BLE001
            from loanstream.config import redact_dsn

            return f"Postgres at {redact_dsn(settings.pg_dsn)}: {str(exc).strip()}"
    if service == "airflow":
        url = _airflow_url()
        try:
            with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=5) as resp:
                health = json.load(resp)
        except Exception as exc:  # noqa: BLE001
            return f"Airflow at {url}: {exc}"
        bad = [k for k, v in health.items() if isinstance(v, dict) and v.get("status") != "healthy"]
        return f"Airflow at {url}: unhealthy {bad}" if bad else None
    if service == "schema-registry":
        url = settings.schema_registry_url
        try:
            with urllib.request.urlopen(f"{url}/subjects", timeout=5) as resp:
                json.load(resp)
            return None
        except Exception as exc:  # noqa: BLE001
            return f"schema registry at {url}: {exc}"
    raise ValueError(service)


def require_service(service: str, settings: Settings | None = None) -> None:
    """Fail the calling test (once probed, cached) when ``service`` is not up."""
    if service not in _service_errors:
        _service_errors[service] = _probe(service, settings or Settings.from_env())
    error = _service_errors[service]
    if error:
        pytest.fail(f"{service} is not reachable ({error}): run `make up` first", pytrace=False)


@pytest.fixture(autouse=True)
def _require_services_for_marker(request: pytest.FixtureRequest) -> None:
    needed: list[str] = []
    for marker, services in NEEDS.items():
        if request.node.get_closest_marker(marker):
            needed += [s for s in services if s not in needed]
    for service in needed:
        require_service(service)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings.from_env()


@pytest.fixture(scope="session")
def schema_registry_url(settings: Settings) -> str:
    """``LOANSTREAM_SCHEMA_REGISTRY_URL``, once the registry answers there."""
    require_service("schema-registry", settings)
    return settings.schema_registry_url


@pytest.fixture(scope="session")
def kafka_bootstrap(settings: Settings) -> str:
    require_service("kafka", settings)
    return settings.bootstrap_servers


@pytest.fixture(scope="session")
def kafka_config(settings: Settings, kafka_bootstrap: str) -> dict:
    """librdkafka config for the real broker (bootstrap + any SASL/TLS settings)."""
    return settings.kafka_config()


@pytest.fixture(scope="session")
def kafka_admin(kafka_config: dict):
    from confluent_kafka.admin import AdminClient

    return AdminClient(kafka_config)


_swept: list[bool] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Whatever a test named with ``unique_name`` and left behind (a sink's consumer group, a
    topic a DAG run created, anything of a failed test): deleted, if the services answered."""
    from tests import resources

    if not resources._MADE or _service_errors.get("kafka", "not probed") is not None:
        return
    if _service_errors.get("postgres", "not probed") is not None:
        return
    try:
        found = resources.delete_named(Settings.from_env())
    except Exception as exc:  # noqa: BLE001 - cleanup must not change the session's result
        print(f"\ncleanup: deleting this session's test resources failed: {exc}", file=sys.stderr)
        return
    if any(found.values()):
        counts = ", ".join(f"{len(v)} {k}" for k, v in found.items())
        print(f"\ncleanup: deleted what tests left behind: {counts}", file=sys.stderr)


@pytest.fixture
def resources(settings: Settings, kafka_bootstrap: str, pg_dsn: str) -> Iterator[Any]:
    """A :class:`tests.resources.Resources`: ``resources.topic()``, ``.group()``,
    ``.schema()``, ``.adopt_topic(name)``; everything deleted when the test ends, pass or fail.
    The first use in a session also deletes leftovers of killed runs (older than 6 h)."""
    from tests.resources import Resources, sweep_stale

    if not _swept:
        _swept.append(True)
        try:
            found = sweep_stale(settings)
        except Exception as exc:  # noqa: BLE001 - a failed sweep must not fail the test
            print(f"cleanup: sweeping stale test resources failed: {exc}", file=sys.stderr)
        else:
            if any(found.values()):
                print(f"cleanup: deleted stale test resources {found}", file=sys.stderr)
    with Resources(settings) as res:
        yield res


@pytest.fixture
def unique_topic(kafka_admin, resources) -> Iterator[Callable[..., str]]:
    """Factory: ``unique_topic(partitions=3, config=None, prefix=None) -> name``.

    Creates a fresh topic on the real broker (waiting until it exists) and deletes every
    topic it made when the test ends (``resources``).
    """
    from confluent_kafka.admin import NewTopic

    from tests.resources import unique_name

    def make(
        partitions: int = 3, config: dict[str, str] | None = None, prefix: str | None = None
    ) -> str:
        name = resources.adopt_topic(unique_name(prefix or "test"))
        futures = kafka_admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
            operation_timeout=15,
        )
        futures[name].result(timeout=20)
        # the controller has it; wait until the broker's metadata shows every partition led
        deadline = time.monotonic() + 20
        while True:
            meta = kafka_admin.list_topics(name, timeout=5).topics.get(name)
            if (
                meta is not None
                and meta.error is None
                and len(meta.partitions) == partitions
                and all(p.leader >= 0 for p in meta.partitions.values())
            ):
                return name
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {name} not visible in metadata after 20 s: {meta}")
            time.sleep(0.1)

    yield make


@pytest.fixture(scope="session")
def pg_dsn(settings: Settings) -> str:
    require_service("postgres", settings)
    return settings.pg_dsn


@pytest.fixture
def pg_conn(pg_dsn: str):
    """A psycopg2 connection to the loanstream database, autocommit, closed afterwards."""
    import psycopg2

    conn = psycopg2.connect(pg_dsn, connect_timeout=10)
    conn.autocommit = True
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture(scope="session")
def airflow_url() -> str:
    """Base URL of the running Airflow api-server (UI and REST API)."""
    require_service("airflow")
    return _airflow_url()


@pytest.fixture(scope="session")
def airflow_token(airflow_url: str) -> str:
    """A JWT for user admin: send it as ``Authorization: Bearer <token>``."""
    body = json.dumps(
        {"username": "admin", "password": os.environ["LOANSTREAM_AIRFLOW_ADMIN_PASSWORD"]}
    ).encode()
    req = urllib.request.Request(
        f"{airflow_url}/auth/token",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return json.load(resp)["access_token"]
    except urllib.error.HTTPError as exc:
        pytest.fail(f"Airflow login as admin failed: HTTP {exc.code} {exc.read()[:200]!r}")


@pytest.fixture(scope="session")
def live_settings(settings: Settings, kafka_bootstrap: str, pg_dsn: str) -> Settings:
    """``settings``, once Kafka and Postgres are known to answer."""
    return settings


@pytest.fixture(scope="session")
def airflow_api(airflow_url: str):
    """REST API v2 client, logged in as admin (``scripts/airflow_api.py``)."""
    from airflow_api import Airflow

    api = Airflow(airflow_url)
    try:
        api.login("admin", os.environ["LOANSTREAM_AIRFLOW_ADMIN_PASSWORD"])
    except Exception as exc:  # noqa: BLE001 - any failure here means the stack is not up
        pytest.fail(f"Airflow login at {airflow_url} failed ({exc}): run `make up` first")
    return api


@pytest.fixture(scope="session")
def dag_runner(airflow_api):
    """Trigger DAGs and read their task states, logs and XComs over the REST API."""
    from airflow_api import DagRunner

    return DagRunner(airflow_api)


@pytest.fixture(scope="session")
def shared_csv() -> Path:
    """The real LendingClub sample in ../shared/data (never copied into the project)."""
    from tests.helpers import shared_data_csv

    path = shared_data_csv()
    if not path.exists():
        pytest.fail(f"real sample not found at {path}: set LOANSTREAM_SHARED_DATA", pytrace=False)
    return path
