"""Private Kafka and Postgres for fault injection, so the shared stack is never touched.

The fault tests SIGKILL brokers, databases and consumers. They do it to services of their
own, started here once per session on free ports:

* ``chaos_kafka``: a one-node KRaft broker from the same jars as ``make up``
  (``.local/kafka/libs``), its storage formatted with ``kafka.tools.StorageTool`` in a temp dir,
  heap ``-Xms256m -Xmx512m``;
* ``chaos_pg``: a Postgres cluster ``initdb``'d as the ``postgres`` OS user into a temp dir,
  socket in that dir, trust auth on 127.0.0.1 (a throwaway test instance only).

Each runs in a process group of its own (``start_new_session``): ``kill()`` SIGKILLs the
whole group at once (a crash, not a shutdown), ``start()`` brings it back on the same data and
ports. At teardown both are stopped and the test session fails if any of their processes is
left (checked with ``ps``).

``LOANSTREAM_CHAOS_TRIALS`` sets how many trials the repeated tests run (default 3, the smoke
run of ``make test``; ``make chaos`` sets 20).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from loanstream.config import Settings
from tests.chaos.services import (
    PrivateKafka,
    PrivatePostgres,
    kafka_settings,
    private_dir,
    running,
    running_private_kafka,
)


@pytest.fixture(scope="session")
def chaos_kafka() -> Iterator[PrivateKafka]:
    with running_private_kafka("kafka") as kafka:
        yield kafka


@pytest.fixture(scope="session")
def chaos_pg() -> Iterator[PrivatePostgres]:
    if os.geteuid() != 0:
        pytest.fail("the private Postgres is started as the postgres OS user: run as root")
    with running(PrivatePostgres(private_dir("pg"))) as pg:
        yield pg


@pytest.fixture
def kafka_up(chaos_kafka: PrivateKafka) -> PrivateKafka:
    """The private broker, restarted first if an earlier test left it down."""
    if chaos_kafka.proc is None or chaos_kafka.proc.poll() is not None:
        chaos_kafka.start()
    return chaos_kafka


@pytest.fixture
def pg_up(chaos_pg: PrivatePostgres) -> PrivatePostgres:
    """The private Postgres, restarted first if an earlier test left it down."""
    if chaos_pg.proc is None or chaos_pg.proc.poll() is not None:
        chaos_pg.start()
    return chaos_pg


@pytest.fixture
def chaos_settings(kafka_up: PrivateKafka, pg_up: PrivatePostgres) -> Settings:
    """Settings pointing at the private broker and database (never the shared stack)."""
    return kafka_settings(kafka_up, pg_dsn=pg_up.dsn)
