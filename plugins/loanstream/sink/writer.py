"""The batch writer: one Postgres transaction per batch (decisions, dead letters, offsets).

Each scored event is written once: its decision is COPYed into the append-only
``risk_decisions`` (``risk_scored``, the current decision of each loan, is a view over it:
migration 0005). A batch holding an event whose source position already has a decision (the
same events re-read by another consumer group) cannot be COPYed: its transaction is rolled back
and the batch written again through a staging table, the positions already decided left as they
were. Dead letters follow, then the offset move with its fence (``OffsetStore.move``).
Four round trips for a batch: BEGIN, COPY, the offsets, COMMIT. ``scored_at`` is the clock when
each row is written (the column's default ``clock_timestamp()``), moments before the commit.

Batches commit without waiting for their WAL to reach the disk (``synchronous_commit`` off for
the sink's session); ``make_durable`` waits for all of them once, when a run ends. Exactly-once
does not rest on that wait: a batch's rows and its offsets are one transaction, so a Postgres
crash that loses the last batches (at most ~0.6 s of them, three WAL writer rounds) loses
their offsets with them, and the consumer, whose connection broke, re-reads them from Kafka.
What it saves is a WAL flush per batch that the next batch waited for.
"""

from __future__ import annotations

import io
import logging
import time
from typing import Any

import psycopg2.errors

from loanstream.sink.offsets import OffsetStore
from loanstream.sink.rows import ROW_COLUMNS, csv_lines
from loanstream.sink.scorer import Batch

log = logging.getLogger(__name__)

_COLS = ", ".join(ROW_COLUMNS)
COPY_SQL = f"COPY risk_decisions ({_COLS}) FROM STDIN WITH (FORMAT csv)"
COPY_CHUNK = 1 << 20  # bytes handed to libpq per call (psycopg2's default is 8 KiB)
STAGE_SQL = (
    "CREATE TEMP TABLE IF NOT EXISTS risk_decisions_stage "
    "(LIKE risk_decisions INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
STAGE_COPY_SQL = f"COPY risk_decisions_stage ({_COLS}) FROM STDIN WITH (FORMAT csv)"
FROM_STAGE_SQL = f"""
INSERT INTO risk_decisions ({_COLS}) SELECT {_COLS} FROM risk_decisions_stage
ON CONFLICT (src_topic, src_partition, src_offset) DO NOTHING
"""  # noqa: S608 - column names are constants of loanstream.sink.rows
ASYNC_COMMIT_SQL = "SET synchronous_commit TO off"
SYNC_COMMIT_SQL = "SET LOCAL synchronous_commit TO on"
DEAD_LETTER_SQL = (
    'INSERT INTO dead_letters (topic, partition, "offset", key, raw_value, error, run_id) '
    'VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (topic, partition, "offset") DO NOTHING'
)


class _PositionsDecided(Exception):
    """The COPY met a source position that already has a decision (rolled back)."""


class BatchWriter:
    """Writes batches, each in one transaction, on one connection.

    :param offsets: the offset store whose fence guards every write.
    """

    def __init__(self, offsets: OffsetStore) -> None:
        self.offsets = offsets
        self._direct_copy = True
        # the last transaction's clock (time.monotonic): started, rows written, committed
        self.times = (0.0, 0.0, 0.0)

    @staticmethod
    def prepare(conn: Any) -> None:
        """Create the session's staging table and let its commits return before their WAL
        flush (once per connection)."""
        with conn, conn.cursor() as cur:
            cur.execute(STAGE_SQL)
            cur.execute(ASYNC_COMMIT_SQL)

    def make_durable(self, conn: Any, partitions: list[int]) -> None:
        """Wait until every batch committed on ``conn`` is on disk (at the end of a run): a
        transaction that writes (its offsets' time) and commits synchronously, which flushes
        the WAL of every transaction committed before it (one that writes nothing would not
        wait)."""
        with conn, conn.cursor() as cur:
            cur.execute(SYNC_COMMIT_SQL)
            self.offsets.touch(cur, partitions)

    def write(self, conn: Any, batch: Batch, expected: dict[int, int | None]) -> int:
        """Store ``batch`` and move its partitions from ``expected``; returns the decisions
        stored (fewer than ``batch.scored`` if some positions were decided already).

        Raises ``FencedError`` (nothing written) if another consumer moved a partition.
        """
        try:
            return self._transaction(conn, batch, expected)
        except _PositionsDecided:
            # After the first such batch every batch is staged: a re-read repeats in each.
            self._direct_copy = False
            log.info("batch holds events decided before (re-read): staging from now on")
            return self._transaction(conn, batch, expected)

    def _transaction(self, conn: Any, batch: Batch, expected: dict[int, int | None]) -> int:
        stored = 0
        started = copied = time.monotonic()
        with conn, conn.cursor() as cur:
            if batch.scored:
                buffer = io.BytesIO(batch.native_csv)
                buffer.seek(0, io.SEEK_END)
                if batch.rows:
                    buffer.write(csv_lines(batch.rows).encode())
                buffer.seek(0)
                if self._direct_copy:
                    try:
                        cur.copy_expert(COPY_SQL, buffer, COPY_CHUNK)
                    except psycopg2.errors.UniqueViolation:
                        raise _PositionsDecided from None  # leaves `with conn`: rollback
                    stored = batch.scored
                else:
                    cur.copy_expert(STAGE_COPY_SQL, buffer, COPY_CHUNK)
                    cur.execute(FROM_STAGE_SQL)
                    stored = cur.rowcount
                copied = time.monotonic()
            if batch.dead:
                cur.executemany(DEAD_LETTER_SQL, batch.dead)
            self.offsets.move(cur, expected, batch.end)  # raises inside `with conn`: rollback
        self.times = (started, copied, time.monotonic())
        return stored
