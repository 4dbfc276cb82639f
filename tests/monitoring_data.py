"""A small run written straight into Postgres for the monitoring and redrive tests: a ledger
row, decisions scored by the real code, and dead letters, one of which scores today (an event
an older parser refused) and some that never will (hostile bytes, shown on the page)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psycopg2
from psycopg2.extras import execute_values

from loanstream.produce.events import finish_event, iter_event_batches
from loanstream.scoring import load_rules
from loanstream.sink.redrive import DECISIONS_SQL
from loanstream.sink.rows import score_value

# Raw values that must be shown as text, never run as markup or script.
HOSTILE = [
    b'<img src=x onerror="document.title=\'pwned\'"><script>window.pwned=1</script>',
    b"</script><script>window.pwned=2</script>{\"id\": 1",
    b"\xff\xfe not utf-8 \x00 nul",
]


@dataclass
class SeededRun:
    run_id: str
    topic: str
    produced: int
    scored: int
    dead: int
    fixable_ids: list[int]  # dead letters that score with today's code
    hostile_ids: list[int]


def valid_events(csv: Path, n: int, id_prefix: str) -> list[bytes]:
    """``n`` events of ``csv`` as the producer writes them (event_time now), ids prefixed."""
    out = []
    now = datetime.now(UTC).isoformat()
    for batch in iter_event_batches(csv, chunk_rows=n, max_events=n):
        for body in batch.bodies:
            event = orjson.loads(finish_event(body, now))
            event["id"] = f"{id_prefix}{event['id']}"
            out.append(orjson.dumps(event))
    return out[:n]


def seed_run(dsn: str, csv: Path, run_id: str, topic: str, scored: int = 4, fixable: int = 1,
             started_ago: str = "0 seconds") -> SeededRun:  # fmt: skip
    """Ledger + ``scored`` decisions + ``fixable`` scorable dead letters + the hostile ones."""
    rules = load_rules()
    events = valid_events(csv, scored + fixable, f"{run_id[-12:]}-")
    rows = []
    for offset, value in enumerate(events[:scored]):
        result = score_value(value, rules, topic=topic, partition=0, offset=offset, run_id=run_id,
                             payload=False)  # fmt: skip
        assert not isinstance(result, str), result
        rows.append(result[0])
    dead_rows = [(topic, 1, i, f"fix-{i}", psycopg2.Binary(v), "field 'x': an older parser "
                  "refused it", run_id) for i, v in enumerate(events[scored:])]  # fmt: skip
    dead_rows += [(topic, 2, i, f"<b>key-{i}</b>", psycopg2.Binary(v), "not JSON: <script>bad",
                   run_id) for i, v in enumerate(HOSTILE)]  # fmt: skip
    produced = scored + len(dead_rows)
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO run_ledger (run_id, topic, state, source_file, sent, delivered, "
                "started_at, finished_at) VALUES (%s, %s, 'complete', 'seeded.csv', %s, %s, "
                "now() - %s::interval, now() - %s::interval)",
                (run_id, topic, produced, produced, started_ago, started_ago),
            )
            execute_values(cur, DECISIONS_SQL, rows)
            ids = []
            for row in dead_rows:
                cur.execute(
                    'INSERT INTO dead_letters (topic, partition, "offset", key, raw_value, error, '
                    "run_id) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                    row,
                )
                ids.append(cur.fetchone()[0])
    finally:
        conn.close()
    return SeededRun(run_id, topic, produced, scored, len(dead_rows), ids[:fixable],
                     ids[fixable:])  # fmt: skip


def delete_seeded(dsn: str, run_id: str) -> None:
    """What can be deleted of a seeded run (risk_decisions is append-only: its rows stay, as
    every e2e run's do; their run id and topic are unique)."""
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("DELETE FROM dead_letters WHERE run_id = %s", (run_id,))
            cur.execute("DELETE FROM run_partitions WHERE run_id = %s", (run_id,))
            cur.execute("DELETE FROM run_ledger WHERE run_id = %s", (run_id,))
    finally:
        conn.close()


@contextmanager
def seeded(dsn: str, csv: Path, prefix: str, started_ago: str) -> Iterator[SeededRun]:
    """A seeded run (unique run id and topic from ``prefix``), deleted afterwards."""
    from tests.helpers import unique_name

    run = seed_run(dsn, csv, unique_name(prefix), unique_name(f"{prefix}_t"),
                   started_ago=started_ago)  # fmt: skip
    try:
        yield run
    finally:
        delete_seeded(dsn, run.run_id)
