"""The watcher's wake filter on the real Postgres: wake only for events nobody will score."""

from __future__ import annotations

import psycopg2
import pytest

from loanstream.runs.watch import WakeFilter
from loanstream.store.connect import pg_connect

pytestmark = pytest.mark.integration

STORE_OFFSET_SQL = (
    "INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset) "
    "VALUES (%s, %s, %s, %s)"
)
PIPELINE_RUN_SQL = "INSERT INTO run_ledger (run_id, topic, state) VALUES (%s, %s, 'producing')"


def _execute(dsn: str, sql: str, args: tuple) -> None:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
    conn.close()


def test_wakes_only_for_unscored_events_of_no_pipeline_run(resources) -> None:
    dsn = resources.schema()
    _execute(dsn, STORE_OFFSET_SQL, ("sink", "t", 0, 100))
    _execute(dsn, PIPELINE_RUN_SQL, ("manual__2026-11-29", "t"))
    wake = WakeFilter(lambda: pg_connect(dsn), "sink", refresh_seconds=0).wake

    assert wake("t", 0, 99, "ext-1") is None  # already scored
    assert wake("t", 0, 100, "ext-1") == {"topic": "t", "partition": 0, "offset": 100,
                                           "run_id": "ext-1"}  # fmt: skip
    assert wake("t", 1, 0, None) is not None  # a partition never stored
    assert wake("t", 0, 150, "manual__2026-11-29") is None  # its pipeline run scores it
    assert wake("other", 0, 150, "manual__2026-11-29") is not None  # not that run's topic
    assert WakeFilter(lambda: pg_connect(dsn), "other-group").wake("t", 0, 5, None)  # by group
    hostile = "x" * 10_000
    assert wake("t", 0, 200, hostile)["run_id"] == "x" * 250  # an untrusted header is cut


def test_wakes_when_postgres_cannot_be_asked(resources) -> None:
    """Waking once too often costs a no-op run; not waking could leave events unscored."""

    def refuse():
        raise psycopg2.OperationalError("connection refused")

    assert WakeFilter(refuse, "sink").wake("t", 0, 1, "ext") is not None
