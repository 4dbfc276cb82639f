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


def _backends(dsn: str, application_name: str) -> int:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                    (application_name,))  # fmt: skip
        (n,) = cur.fetchone()
    conn.close()
    return n


def test_a_flood_of_run_ids_stays_in_one_connection_and_the_cache_bound(resources) -> None:
    """10x the cache's size of distinct (and huge) run ids: the cache holds its size, one
    Postgres connection answers all of them (counted by the filter and by Postgres)."""
    import uuid

    dsn = resources.schema()
    _execute(dsn, PIPELINE_RUN_SQL, ("manual__kept", "t"))
    app = f"watch-test-{uuid.uuid4().hex[:8]}"
    opened = []

    def connect():
        opened.append(1)
        return pg_connect(dsn, app)

    size = 50
    watch = WakeFilter(connect, "sink", cache_size=size)
    try:
        for i in range(10 * size):
            run_id = f"ext-{i}-" + "y" * (5_000 if i % 7 == 0 else 0)
            assert watch.wake("t", 0, i, run_id) is not None
            assert len(watch._pipeline_runs) <= size
        assert watch.wake("t", 0, 1, "manual__kept") is None  # still answered
        assert len(watch._pipeline_runs) == size
        assert all(len(run_id) <= 250 for run_id, _ in watch._pipeline_runs)
        assert (len(opened), _backends(dsn, app)) == (1, 1)
        # the connection dies (a Postgres restart, a network cut): the next one replaces it
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = %s", (app,))  # fmt: skip
        conn.close()
        _execute(dsn, PIPELINE_RUN_SQL, ("manual__new", "t"))
        assert watch.wake("t", 0, 1, "ext-after-kill") is not None  # woken anyway (the error)
        assert watch.wake("t", 0, 2, "manual__new") is None  # asked on a new connection
        assert (len(opened), _backends(dsn, app)) == (2, 1)
    finally:
        watch.close()
    assert _backends(dsn, app) == 0
