"""Kafka or Postgres unreachable at start: a clear error within a bounded time, never a hang.

Two kinds of "unreachable" for each service: a closed port (connection refused at once) and a
silent listener (TCP accepts, the server never answers: a hung or firewalled host). Each CLI
must exit non-zero within ``BOUND`` seconds with a last stdout line of JSON holding ``error``,
naming the address and what to do.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pytest

from loanstream.config import Settings
from tests.chaos.chaos_common import record
from tests.chaos.services import PrivateKafka, free_port, kafka_settings, run_cli
from tests.helpers import unique_name

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(300)]

BOUND = 30.0
RESULTS: dict[str, dict] = {}


@contextlib.contextmanager
def silent_listener() -> Iterator[str]:
    """127.0.0.1:PORT that accepts connections (kernel backlog) and never says a word."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield f"127.0.0.1:{server.getsockname()[1]}"


@contextlib.contextmanager
def closed_port() -> Iterator[str]:
    yield f"127.0.0.1:{free_port()}"


TARGETS = {"refused": closed_port, "silent": silent_listener}


@pytest.fixture(scope="module", autouse=True)
def record_figures() -> Iterator[None]:
    """After the module's tests, whatever their order or outcome: their figures, on disk."""
    yield
    record("unreachable", {"bound_s": BOUND, "results": RESULTS})


def check(result, name: str, address: str, what_to_do: str) -> dict:
    data = result.last_json
    RESULTS[name] = {"seconds": round(result.seconds, 2), "rc": result.returncode, **data}
    assert result.returncode != 0, result.stdout
    assert result.seconds < BOUND, f"{name} took {result.seconds:.1f}s"
    assert "error" in data, data
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    host, port = address.rsplit(":", 1)
    assert port in data["error"] and host in data["error"], data["error"]
    assert what_to_do in data["error"], data["error"]
    return data


@pytest.mark.parametrize("kind", TARGETS)
def test_produce_with_kafka_unreachable(kind: str, shared_csv) -> None:
    with TARGETS[kind]() as address:
        settings = Settings(bootstrap_servers=address)
        result = run_cli(
            settings, "produce", "--allow-any-path", "--csv", str(shared_csv), "--topic", "t",
            "--bootstrap", address,
        )  # fmt: skip
    check(result, f"produce/kafka-{kind}", address, "make up")


@pytest.mark.parametrize("kind", TARGETS)
def test_consume_with_kafka_unreachable(kind: str) -> None:
    with TARGETS[kind]() as address:
        settings = Settings(bootstrap_servers=address)
        result = run_cli(settings, "consume", "--topic", "t", "--bootstrap", address)
    check(result, f"consume/kafka-{kind}", address, "make up")


@pytest.mark.parametrize("kind", TARGETS)
def test_consume_with_postgres_unreachable(kind: str, kafka_up: PrivateKafka) -> None:
    from loanstream.kafka.topics import ensure_topic

    topic = unique_name("chaos_unreach")
    ensure_topic(kafka_up.admin_config(), topic, partitions=1, use_rpk=False)
    with TARGETS[kind]() as address:
        settings = kafka_settings(kafka_up, pg_dsn=f"postgresql://loanstream@{address}/x")
        result = run_cli(settings, "consume", "--topic", topic, "--bootstrap", kafka_up.bootstrap)
    check(result, f"consume/postgres-{kind}", address, "make up")


@pytest.mark.parametrize("kind", TARGETS)
def test_topic_create_with_kafka_unreachable_fails_in_bounded_time(kind: str) -> None:
    with TARGETS[kind]() as address:
        result = run_cli(Settings(bootstrap_servers=address), "topic", "create",
                         "--topic", "t", "--bootstrap", address)  # fmt: skip
    data = result.last_json
    RESULTS[f"topic-create/kafka-{kind}"] = {"seconds": round(result.seconds, 2), **data}
    assert result.returncode != 0 and "error" in data
    assert result.seconds < BOUND
    assert "Traceback" not in result.stderr


def test_topic_create_error_names_the_address_and_what_to_do() -> None:
    with closed_port() as address:
        result = run_cli(Settings(bootstrap_servers=address), "topic", "create",
                         "--topic", "t", "--bootstrap", address)  # fmt: skip
    check(result, "topic-create/kafka-refused(address)", address, "make up")
