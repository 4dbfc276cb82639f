"""The batch writer: one Postgres transaction per batch (rows, decisions, dead letters, offsets).

New loans (the common case) are COPYed straight into ``risk_scored`` inside a savepoint; a batch
that repeats a stored loan id (a replay) is rolled back to the savepoint and COPYed into a
staging table, then upserted by loan id. The same rows are COPYed into the append-only
``risk_decisions`` (every decision kept; an event already decided, e.g. re-read by another
consumer group, is left as it was). Dead letters follow, then the offset move with its fence
(``OffsetStore.move``). Six round trips for a batch of new loans: BEGIN + SAVEPOINT, COPY,
SAVEPOINT, COPY, the offsets, COMMIT. ``scored_at`` is the clock when each row is written (the
column's default ``clock_timestamp()``), moments before the commit.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from typing import Any

import psycopg2.errors

from loanstream.sink.offsets import OffsetStore
from loanstream.sink.rows import ROW_COLUMNS, csv_lines
from loanstream.sink.scorer import Batch

log = logging.getLogger(__name__)

_COLS = ", ".join(ROW_COLUMNS)
_UPDATES = ", ".join(f"{c} = EXCLUDED.{c}" for c in ROW_COLUMNS if c != "loan_id")
UPSERT_SQL = f"""
INSERT INTO risk_scored ({_COLS}, scored_at)
SELECT DISTINCT ON (loan_id) {_COLS}, clock_timestamp() FROM risk_scored_stage
ORDER BY loan_id, src_partition DESC, src_offset DESC
ON CONFLICT (loan_id) DO UPDATE SET {_UPDATES}, scored_at = clock_timestamp()
RETURNING (xmax = 0) AS inserted
"""  # noqa: S608 - column names are constants of this module
STAGE_SQL = (
    "CREATE TEMP TABLE IF NOT EXISTS risk_scored_stage "
    "(LIKE risk_scored INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
COPY_SQL = f"COPY risk_scored_stage ({_COLS}) FROM STDIN WITH (FORMAT csv)"
DIRECT_COPY_SQL = f"COPY risk_scored ({_COLS}) FROM STDIN WITH (FORMAT csv)"
COPY_CHUNK = 1 << 20  # bytes handed to libpq per call (psycopg2's default is 8 KiB)
DECISIONS_COPY_SQL = f"COPY risk_decisions ({_COLS}) FROM STDIN WITH (FORMAT csv)"
DECISIONS_FROM_STAGE_SQL = f"""
INSERT INTO risk_decisions ({_COLS}) SELECT {_COLS} FROM risk_scored_stage
ON CONFLICT (src_topic, src_partition, src_offset) DO NOTHING
"""  # noqa: S608 - column names are constants of this module
DEAD_LETTER_SQL = (
    'INSERT INTO dead_letters (topic, partition, "offset", key, raw_value, error, run_id) '
    'VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (topic, partition, "offset") DO NOTHING'
)


class BatchWriter:
    """Writes batches, each in one transaction, on one connection.

    :param offsets: the offset store whose fence guards every write.
    :param keep_decisions: append every row to ``risk_decisions`` too (off only to measure
        what that costs, in ``bench/bench_sink.py``).
    """

    def __init__(self, offsets: OffsetStore, *, keep_decisions: bool = True) -> None:
        self.offsets = offsets
        self.keep_decisions = keep_decisions
        self._direct_copy = True

    @staticmethod
    def prepare(conn: Any) -> None:
        """Create the session's staging table (once per connection)."""
        with conn, conn.cursor() as cur:
            cur.execute(STAGE_SQL)

    def write(self, conn: Any, batch: Batch, expected: dict[int, int | None]) -> int:
        """Store ``batch`` and move its partitions from ``expected``; returns new loans stored.

        Raises ``FencedError`` (nothing written) if another consumer moved a partition.
        """
        inserted = 0
        with conn, conn.cursor() as cur:
            if batch.scored:
                buffer = io.BytesIO(batch.native_csv)
                buffer.seek(0, io.SEEK_END)
                if batch.rows:
                    buffer.write(csv_lines(batch.rows).encode())
                staged = False
                if self._direct_copy and self._copy_new_loans(cur, buffer):
                    inserted = batch.scored
                else:
                    buffer.seek(0)
                    cur.copy_expert(COPY_SQL, buffer, COPY_CHUNK)
                    staged = True
                    cur.execute(UPSERT_SQL)
                    inserted = sum(1 for (flag,) in cur.fetchall() if flag)
                if self.keep_decisions:
                    self._keep_decisions(cur, buffer, staged)
            if batch.dead:
                cur.executemany(DEAD_LETTER_SQL, batch.dead)
            self.offsets.move(cur, expected, batch.end)  # raises inside `with conn`: rollback
        return inserted

    @staticmethod
    def _in_savepoint(cur: Any, copy: Callable[[], None]) -> bool:
        """Run ``copy`` (a COPY) inside a savepoint; False (rolled back to it) if a key repeats."""
        cur.execute("SAVEPOINT batch_copy")
        try:
            copy()
        except psycopg2.errors.UniqueViolation:
            cur.execute("ROLLBACK TO SAVEPOINT batch_copy")
            return False
        return True  # the savepoint ends with the transaction

    def _keep_decisions(self, cur: Any, buffer: io.BytesIO, staged: bool) -> None:
        """Append the batch's rows to risk_decisions: COPY, or (an event already decided in
        the batch) insert the new ones from the stage."""
        buffer.seek(0)
        if self._in_savepoint(cur, lambda: cur.copy_expert(DECISIONS_COPY_SQL, buffer, COPY_CHUNK)):
            return
        if not staged:
            buffer.seek(0)
            cur.copy_expert(COPY_SQL, buffer, COPY_CHUNK)
        cur.execute(DECISIONS_FROM_STAGE_SQL)

    def _copy_new_loans(self, cur: Any, buffer: io.BytesIO) -> bool:
        """COPY the batch straight into risk_scored; False (rolled back) if a loan id repeats.

        After the first repeat every batch is upserted: a replay would repeat in each.
        """
        buffer.seek(0)
        if self._in_savepoint(cur, lambda: cur.copy_expert(DIRECT_COPY_SQL, buffer, COPY_CHUNK)):
            return True
        self._direct_copy = False
        log.info("batch repeats stored loan ids: upserting from now on")
        return False
