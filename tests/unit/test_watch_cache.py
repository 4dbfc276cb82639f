"""The watcher's wake filter keeps one Postgres connection and a bounded cache of run ids,
whatever the headers (a fake connection: no Postgres)."""

from __future__ import annotations

import psycopg2
import pytest

from loanstream.config import Settings
from loanstream.runs.watch import DEFAULT_CACHE_SIZE, WakeFilter

pytestmark = pytest.mark.unit


class FakeConnection:
    """Answers the run ledger from ``known``; the stored offsets are empty."""

    def __init__(self, known: set[str], fail_after: int | None = None) -> None:
        self.known, self.fail_after, self.queries, self.closed = known, fail_after, 0, False
        self.autocommit = False
        self._rows: list[tuple] = []

    def cursor(self) -> FakeConnection:
        return self

    def __enter__(self) -> FakeConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute(self, sql: str, params: tuple) -> None:
        self.queries += 1
        if self.fail_after is not None and self.queries > self.fail_after:
            raise psycopg2.OperationalError("server closed the connection unexpectedly")
        self._rows = [(1,)] if "run_ledger" in sql and params[0] in self.known else []

    def fetchall(self) -> list[tuple]:
        return self._rows

    def fetchone(self) -> tuple | None:
        return self._rows[0] if self._rows else None

    def close(self) -> None:
        self.closed = True


def test_lru_bound_and_one_connection() -> None:
    opened: list[FakeConnection] = []

    def connect() -> FakeConnection:
        opened.append(FakeConnection({"run-a"}))
        return opened[-1]

    watch = WakeFilter(connect, "sink", refresh_seconds=3600, cache_size=10)
    assert watch.wake("t", 0, 0, "run-a") is None
    for i in range(100):
        assert watch.wake("t", 0, i, f"ext-{i}") is not None
        watch.wake("t", 0, i, "run-a")  # used again and again: never forgotten
    assert len(watch._pipeline_runs) == 10
    assert ("run-a", "t") in watch._pipeline_runs and ("ext-0", "t") not in watch._pipeline_runs
    assert len(opened) == 1 and opened[0].autocommit and not opened[0].closed
    queries = opened[0].queries
    assert watch.wake("t", 0, 1, "run-a") is None and opened[0].queries == queries  # cached


def test_a_failed_connection_is_replaced_once() -> None:
    opened: list[FakeConnection] = []

    def connect() -> FakeConnection:
        opened.append(FakeConnection({"run-a"}, fail_after=2 if not opened else None))
        return opened[-1]

    watch = WakeFilter(connect, "sink", refresh_seconds=3600)
    assert watch.wake("t", 0, 0, "ext-1") is not None  # offsets + ledger: 2 queries
    assert watch.wake("t", 0, 0, "ext-2") is not None  # the 3rd fails: woken anyway
    assert opened[0].closed and len(opened) == 1
    assert watch.wake("t", 0, 0, "run-a") is None  # a new connection answers
    assert len(opened) == 2
    watch.close()
    assert opened[1].closed


def test_cache_size_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOANSTREAM_WATCH_CACHE_SIZE", raising=False)
    assert Settings.from_env().watch_cache_size == DEFAULT_CACHE_SIZE
    monkeypatch.setenv("LOANSTREAM_WATCH_CACHE_SIZE", "123")
    assert Settings.from_env().watch_cache_size == 123
    with pytest.raises(ValueError):
        WakeFilter(lambda: None, "sink", cache_size=0)


def test_a_huge_header_is_cut_before_it_is_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    from loanstream.airflow import watcher

    seen: list[str | None] = []

    class Recorder:
        def wake(self, topic: str, partition: int, offset: int, run_id: str | None) -> None:
            seen.append(run_id)

    class Message:
        def headers(self) -> list[tuple[str, bytes]]:
            return [("run_id", "é".encode() * 500_000)]

        def topic(self) -> str:
            return "t"

        def partition(self) -> int:
            return 0

        def offset(self) -> int:
            return 1

    monkeypatch.setattr(watcher, "_filter", Recorder())
    watcher.unscored_event(Message())
    assert seen[0] is not None and len(seen[0]) == 500  # 1,000 bytes of 2-byte characters
