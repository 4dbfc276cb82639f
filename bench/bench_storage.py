"""How to store every decision once: the layouts measured side by side (issue 24).

Used by ``bench_sink.py`` (which has the rows its sink stored); each function takes a DSN whose
schema holds them in ``risk_decisions`` and returns one JSON-ready dict. Write cost is a COPY of
the same rows, from memory, in batches of 2,000 (one transaction each, as the sink writes), into
a fresh table of each layout:

- ``view``: ``risk_decisions`` alone (its primary key on the source position, the ``loan_id``
  btree, BRIN on ``run_id`` and ``scored_at``); current state is the ``risk_scored`` view. What
  the sink writes;
- ``two_tables``: the layout before issue 24, the same rows also into a current-state table
  keyed by loan id (btree on ``run_id``);
- ``partitioned``: ``risk_decisions`` partitioned by month of ``scored_at`` (retention by
  dropping a partition; the key must include ``scored_at``, so a source position is no longer
  unique across months);
- ``probe``: ``view`` plus, per batch, the index probe a "current-state table updated only when
  a loan is scored again" needs to find those loans (the update itself left out: no loan repeats
  here).

Read cost, on the sink's own tables: one loan's current decision, one run's current decisions,
and all current decisions (``count(*)`` over the view).
"""

from __future__ import annotations

import io
import statistics
import time

import psycopg2

from loanstream.sink import ROW_COLUMNS

COLS = ", ".join(ROW_COLUMNS)
BATCH = 2000
LOAN_ID = ROW_COLUMNS.index("loan_id")

OLD_CURRENT_DDL = """
CREATE TABLE {name} (LIKE risk_decisions INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
                     PRIMARY KEY (loan_id));
CREATE INDEX ON {name} (run_id);
"""
PARTITIONED_DDL = """
CREATE TABLE {name} (LIKE risk_decisions INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
                     PRIMARY KEY (src_topic, src_partition, src_offset, scored_at))
    PARTITION BY RANGE (scored_at);
CREATE TABLE {name}_now PARTITION OF {name}
    FOR VALUES FROM (date_trunc('month', now())) TO (date_trunc('month', now()) + interval '1 month');
CREATE INDEX ON {name} (loan_id);
CREATE INDEX ON {name} USING brin (run_id);
"""


def stored_rows(dsn: str) -> list[str]:
    """The decisions in ``dsn``'s schema as CSV lines (``COPY ... TO STDOUT``)."""
    conn = psycopg2.connect(dsn)
    try:
        buffer = io.StringIO()
        with conn, conn.cursor() as cur:
            cur.copy_expert(
                f"COPY (SELECT {COLS} FROM risk_decisions) TO STDOUT WITH (FORMAT csv)", buffer  # noqa: S608
            )
        return buffer.getvalue().splitlines(keepends=True)
    finally:
        conn.close()


def _copy_batches(conn, lines: list[str], tables: list[str], probe: bool = False) -> float:
    ids = [line.split(",", 1)[0] for line in lines] if probe else []
    start = time.perf_counter()
    for i in range(0, len(lines), BATCH):
        with conn, conn.cursor() as cur:
            if probe:
                cur.execute(f"SELECT loan_id FROM {tables[0]} WHERE loan_id = ANY(%s)",  # noqa: S608
                            (ids[i : i + BATCH],))  # fmt: skip
                cur.fetchall()
            data = "".join(lines[i : i + BATCH])
            for table in tables:
                cur.copy_expert(f"COPY {table} ({COLS}) FROM STDIN WITH (FORMAT csv)",
                                io.StringIO(data))  # fmt: skip
    return time.perf_counter() - start


def layouts(dsn: str, lines: list[str], passes: int = 3) -> dict:
    """Rows/s of each layout (median of ``passes``), and each ÷ the ``view`` layout."""
    conn = psycopg2.connect(dsn)
    seconds: dict[str, list[float]] = {k: [] for k in ("view", "two_tables", "partitioned", "probe")}
    try:
        for i in range(passes):
            for layout in seconds:
                name = f"layout_{layout}_{i}"
                with conn, conn.cursor() as cur:
                    if layout == "partitioned":
                        cur.execute(PARTITIONED_DDL.format(name=name))
                    else:
                        cur.execute(f"CREATE TABLE {name} (LIKE risk_decisions INCLUDING ALL)")
                    if layout == "two_tables":
                        cur.execute(OLD_CURRENT_DDL.format(name=f"{name}_current"))
                tables = [name] + ([f"{name}_current"] if layout == "two_tables" else [])
                seconds[layout].append(_copy_batches(conn, lines, tables, layout == "probe"))
                with conn, conn.cursor() as cur:
                    for table in reversed(tables):
                        cur.execute(f"DROP TABLE {table}")
    finally:
        conn.close()
    rates = {k: len(lines) / statistics.median(v) for k, v in seconds.items()}
    return {
        "bench": "storage_layouts", "rows": len(lines), "batch": BATCH, "passes": passes,
        **{f"{k}_rows_per_s": round(r, 1) for k, r in rates.items()},
        **{f"{k}_over_view": round(r / rates["view"], 3) for k, r in rates.items()},
    }  # fmt: skip


def reads(dsn: str, samples: int = 200) -> dict:
    """Milliseconds to read current state from the view, on the sink's tables in ``dsn``."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT loan_id, run_id FROM risk_decisions ORDER BY random() LIMIT %s",
                        (samples,))  # fmt: skip
            picks = cur.fetchall()
            start = time.perf_counter()
            for loan_id, _ in picks:
                cur.execute("SELECT * FROM risk_scored WHERE loan_id = %s", (loan_id,))
                assert len(cur.fetchall()) == 1
            one_loan = (time.perf_counter() - start) / len(picks)
            start = time.perf_counter()
            cur.execute("SELECT count(*) FROM risk_scored WHERE run_id = %s", (picks[0][1],))
            one_run = time.perf_counter() - start
            start = time.perf_counter()
            cur.execute("SELECT count(*) FROM risk_scored")
            (current,) = cur.fetchone()
            every = time.perf_counter() - start
        conn.rollback()
    finally:
        conn.close()
    return {"bench": "current_state_reads", "current_decisions": current,
            "one_loan_ms": round(one_loan * 1000, 3), "one_run_ms": round(one_run * 1000, 1),
            "all_current_ms": round(every * 1000, 1)}  # fmt: skip
