"""The run ledger: how a pipeline run's producer is doing, kept in Postgres.

The producer of a run writes it (``RunLedger.producing`` at the start, a heartbeat with counts
and per-partition offsets while it sends, ``finish`` at the end); the consumer tasks read it to
know when their run is over, the sensor to know the run has started, the summary for the
produced counts. Why a ledger and not end-of-run marker records in the topic: a marker would be
one more kind of event every consumer of ``loan_applications`` (ours and anyone else's) must
recognise and skip, it cannot say "the producer died" (a killed producer writes no marker), and
the consumers already keep their offsets in this Postgres, so "stored offset ≥ the run's end
offset" is one comparison in one database.

A consumer's partition is done for a run when the run's state is final (``complete``,
``stopped`` or ``failed``) and the offset stored for the partition has reached the run's end
offset there (the last offset any attempt of the producer delivered to it, plus one). A producer
whose heartbeat is older than ``stale_after`` seconds while the ledger still says ``producing``
(killed without a word) counts as gone: the consumers store what arrived and end.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2

log = logging.getLogger(__name__)

FINAL_STATES = ("complete", "stopped", "failed")
LIVE_STATES = ("producing", "retrying")

_START_SQL = """
INSERT INTO run_ledger (run_id, topic, state, source_file)
VALUES (%(run_id)s, %(topic)s, 'producing', %(source_file)s)
ON CONFLICT (run_id, topic) DO UPDATE SET
    state = 'producing', attempt = run_ledger.attempt + 1, source_file = EXCLUDED.source_file,
    message = NULL, heartbeat_at = now(), finished_at = NULL
RETURNING attempt
"""
# Counts are the current attempt's; offsets merge over attempts (a retried producer re-sends the
# file after what the first attempt delivered, so the run's events span both).
_PROGRESS_SQL = """
UPDATE run_ledger SET sent = %(sent)s, delivered = %(delivered)s, failed = %(failed)s,
    rejected = %(rejected)s, heartbeat_at = now()
WHERE run_id = %(run_id)s AND topic = %(topic)s
"""
_STATE_SQL = """
UPDATE run_ledger SET state = %(state)s, message = %(message)s,
    finished_at = CASE WHEN %(state)s IN ('complete', 'stopped', 'failed') THEN now() END
WHERE run_id = %(run_id)s AND topic = %(topic)s
"""
_OFFSETS_SQL = """
INSERT INTO run_partitions (run_id, topic, partition, first_offset, end_offset, delivered)
SELECT %(run_id)s, %(topic)s, p, f, e, d
FROM unnest(%(partitions)s::integer[], %(firsts)s::bigint[], %(ends)s::bigint[],
            %(delivered)s::bigint[]) AS t(p, f, e, d)
ON CONFLICT (run_id, topic, partition) DO UPDATE SET
    first_offset = LEAST(run_partitions.first_offset, EXCLUDED.first_offset),
    end_offset = GREATEST(run_partitions.end_offset, EXCLUDED.end_offset),
    delivered = GREATEST(run_partitions.delivered, EXCLUDED.delivered)
"""
_READ_SQL = """
SELECT state, attempt, sent, delivered, failed, rejected, message,
       EXTRACT(EPOCH FROM now() - heartbeat_at)::float8, source_file
FROM run_ledger WHERE run_id = %s AND topic = %s
"""
_READ_PARTITIONS_SQL = """
SELECT partition, first_offset, end_offset, delivered, consumer_live_at IS NOT NULL
FROM run_partitions WHERE run_id = %s AND topic = %s
"""
_LIVE_SQL = """
INSERT INTO run_partitions (run_id, topic, partition, consumer_live_at)
VALUES (%s, %s, %s, now())
ON CONFLICT (run_id, topic, partition) DO UPDATE SET consumer_live_at = now()
"""


class LedgerError(RuntimeError):
    """The ledger could not be read or written (Postgres down); the message says what to do."""


@dataclass(frozen=True)
class RunProgress:
    """One read of a run's ledger row and its partitions."""

    run_id: str
    topic: str
    state: str
    attempt: int = 1
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    rejected: int = 0
    message: str | None = None
    heartbeat_age: float = 0.0
    source_file: str | None = None
    end_offsets: dict[int, int] = field(default_factory=dict)
    first_offsets: dict[int, int] = field(default_factory=dict)
    consumers_live: frozenset[int] = frozenset()

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    def gone(self, stale_after: float) -> bool:
        """The producer stopped heartbeating without a final word (killed, machine lost)."""
        return not self.final and self.heartbeat_age > stale_after

    def end_offset(self, partition: int) -> int:
        """Offset after the run's last event on ``partition`` (0: the run sent nothing there)."""
        return self.end_offsets.get(partition, 0)


def _pg_error(exc: psycopg2.Error) -> LedgerError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
    return LedgerError(
        f"cannot reach the run ledger in Postgres ({first}); check Postgres (`make status`)"
    )


class RunLedger:
    """Read and write one run's ledger rows over a connection made by ``connect``.

    :param connect: returns a new psycopg2 connection (``loanstream.store.connect.pg_connect``-like).
    :param run_id: the pipeline run (Airflow's run id, or the CLI's ``--run-id``).
    :param topic: the events topic of the run.
    """

    def __init__(self, connect: Callable[[], Any], run_id: str, topic: str) -> None:
        self._connect = connect
        self.run_id = run_id
        self.topic = topic
        self._conn: Any = None
        self._lock = threading.Lock()  # the producer's heartbeat thread and its main thread

    # -- connection ---------------------------------------------------------------------------

    def _transaction(self, work: Callable[[Any], Any]) -> Any:
        """Run ``work(cursor)`` in one transaction; reconnect next time if Postgres failed."""
        with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = self._connect()
                with self._conn, self._conn.cursor() as cur:
                    return work(cur)
            except psycopg2.Error as exc:
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                raise _pg_error(exc) from exc

    def check_schema(self, migrations_dir: Path) -> int:
        """The database's schema version; ``LedgerError`` if it is behind ``migrations_dir``'s
        newest migration (one query; the schema is applied by ``loanstream schema migrate``)."""
        from loanstream.store import migrations

        with self._lock:
            try:
                conn = self._connect()
            except psycopg2.Error as exc:
                raise _pg_error(exc) from exc
            try:
                return migrations.check(conn, migrations_dir)
            except migrations.MigrationError as exc:
                raise LedgerError(str(exc)) from None
            except psycopg2.Error as exc:
                raise _pg_error(exc) from exc
            finally:
                conn.close()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- producer side ------------------------------------------------------------------------

    def producing(self, source_file: str) -> int:
        """Mark the run as producing (a new attempt if it was seen before); returns the attempt."""
        params = {"run_id": self.run_id, "topic": self.topic, "source_file": source_file}

        def work(cur: Any) -> int:
            cur.execute(_START_SQL, params)
            return int(cur.fetchone()[0])

        return self._transaction(work)

    def progress(
        self,
        counts: Mapping[str, int],
        offsets: Mapping[int, tuple[int, int, int]],
        *,
        state: str | None = None,
        message: str | None = None,
    ) -> None:
        """Heartbeat with ``counts`` (sent, delivered, failed, rejected) and ``offsets``
        ({partition: (first offset, last offset + 1, delivered)}); with ``state``, finish."""
        if state is not None and state not in FINAL_STATES + LIVE_STATES:
            raise ValueError(f"unknown run state {state!r}")
        params = {
            "run_id": self.run_id,
            "topic": self.topic,
            "state": state,
            "message": message,
            **{k: int(counts.get(k, 0)) for k in ("sent", "delivered", "failed", "rejected")},
        }
        partitions = sorted(offsets)

        def work(cur: Any) -> None:
            if partitions:
                cur.execute(
                    _OFFSETS_SQL,
                    {
                        "run_id": self.run_id,
                        "topic": self.topic,
                        "partitions": partitions,
                        "firsts": [offsets[p][0] for p in partitions],
                        "ends": [offsets[p][1] for p in partitions],
                        "delivered": [offsets[p][2] for p in partitions],
                    },
                )
            cur.execute(_PROGRESS_SQL, params)
            if state is not None:
                cur.execute(_STATE_SQL, params)

        self._transaction(work)

    def set_state(self, state: str, message: str | None = None) -> None:
        """Only the state (and its message): e.g. ``failed`` after an unfixable error."""
        if state not in FINAL_STATES + LIVE_STATES:
            raise ValueError(f"unknown run state {state!r}")
        params = {"run_id": self.run_id, "topic": self.topic, "state": state, "message": message}
        self._transaction(lambda cur: cur.execute(_STATE_SQL, params))

    # -- consumer and sensor side -------------------------------------------------------------

    def read(self) -> RunProgress | None:
        """The run's progress, or None while no producer has started it."""
        def work(cur: Any) -> tuple[Any, list[Any]]:
            cur.execute(_READ_SQL, (self.run_id, self.topic))
            found = cur.fetchone()
            cur.execute(_READ_PARTITIONS_SQL, (self.run_id, self.topic))
            return found, cur.fetchall()

        row, parts = self._transaction(work)
        if row is None:
            return None
        state, attempt, sent, delivered, failed, rejected, message, age, source = row
        return RunProgress(
            run_id=self.run_id,
            topic=self.topic,
            state=state,
            attempt=attempt,
            sent=sent,
            delivered=delivered,
            failed=failed,
            rejected=rejected,
            message=message,
            heartbeat_age=float(age or 0.0),
            source_file=source,
            end_offsets={p: e for p, _f, e, _d, _l in parts if e is not None},
            first_offsets={p: f for p, f, _e, _d, _l in parts if f is not None},
            consumers_live=frozenset(p for p, _f, _e, _d, live in parts if live),
        )

    def consumer_live(self, partition: int) -> None:
        """A consumer is consuming ``partition`` for this run (the producer may wait for it)."""
        self._transaction(lambda cur: cur.execute(_LIVE_SQL, (self.run_id, self.topic, partition)))


class Heartbeat:
    """A daemon thread that calls ``beat`` every ``interval`` seconds until ``stop``.

    A killed process stops beating, which is how the consumers tell a dead producer from a
    slow one. Errors are logged, not raised: a Postgres blip must not stop the producer.
    """

    def __init__(self, beat: Callable[[], None], interval: float = 1.0) -> None:
        self._beat = beat
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loanstream-ledger", daemon=True)
        self._warned = False

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stopped.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self._beat()
                self._warned = False
            except LedgerError as exc:
                if not self._warned:
                    log.warning("run ledger heartbeat failed (will retry): %s", exc)
                    self._warned = True
