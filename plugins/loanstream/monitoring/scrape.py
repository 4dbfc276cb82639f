"""What one scrape of ``/loanstream/metrics`` reads from Postgres, kept cheap with a run of
millions of events in the tables.

- **Totals by topic** (the counters): produced is the ledger's ``delivered`` summed per topic;
  scored and dead-lettered are each run's counts as :mod:`loanstream.runs.figures` reads them
  (``risk_decisions`` rows, ``dead_letters`` rows open or redriven), summed per topic. A run's
  counts are read once it is *settled* (final, finished more than ``figures.SETTLE_S`` ago) and
  kept in ``cache``: only live and recent runs are counted again at each scrape. A redrive of a
  settled run (its dead letters change) reads it again.
- **The newest runs** (``limit``, ``LOANSTREAM_METRICS_RUNS``): their ledger state, and the
  heartbeat age of those whose producer is live (``producing``/``retrying``).
- **The last run's latency histogram**, kept in ``cache`` once the run is settled.

Functions take an open psycopg2 connection and return plain data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from loanstream.runs import figures
from loanstream.store.ledger import FINAL_STATES, LIVE_STATES

LEDGER_SQL = """
SELECT run_id, topic, state, delivered, finished_at,
       EXTRACT(EPOCH FROM now() - heartbeat_at)::float8, started_at
FROM run_ledger
"""
# dead letters per run (open, redriven): a settled run's cached counts stay valid while these do
DEAD_SQL = """
SELECT run_id, topic, count(*) FILTER (WHERE resolved_at IS NULL),
       count(*) FILTER (WHERE resolved_at IS NOT NULL)
FROM dead_letters GROUP BY 1, 2
"""


@dataclass
class Scrape:
    """The Postgres side of one scrape."""

    # topic -> produced / scored / dead_lettered (all runs of the ledger)
    topics: dict[str, dict[str, int]] = field(default_factory=dict)
    # the newest runs: run_id, topic, state, heartbeat_age (None unless the producer is live)
    runs: list[dict[str, Any]] = field(default_factory=list)
    # the newest run's figures (counts by kind) and latency histogram
    last_run: dict[str, Any] | None = None


def _settled(state: str, finished_at: datetime | None) -> bool:
    if state not in FINAL_STATES or finished_at is None:
        return False
    return (datetime.now(UTC) - finished_at).total_seconds() > figures.SETTLE_S


def read(conn: Any, cache: dict[Any, Any], limit: int = 20) -> Scrape:
    """Totals by topic, the newest ``limit`` runs and the last run (see the module docstring)."""
    with conn.cursor() as cur:
        cur.execute(LEDGER_SQL)
        ledger = cur.fetchall()
        cur.execute(DEAD_SQL)
        dead = {(r, t): (o, d) for r, t, o, d in cur.fetchall()}
    counts: dict[tuple[str, str], dict[str, Any]] = {}
    wanted: list[str] = []
    for run_id, topic, *_ in ledger:
        key = (run_id, topic)
        hit = cache.get(("counts", key))
        if hit is not None and hit["dead"] == dead.get(key, (0, 0)):
            counts[key] = hit
        else:
            wanted.append(run_id)
    if wanted:
        for run in figures.runs_counts(conn, sorted(set(wanted))):
            key = (run["run_id"], run["topic"])
            if key in counts:
                continue
            found = {"scored": run["scored"], "dead": (run["dead_lettered"], run["redriven"])}
            counts[key] = found
            finished = datetime.fromisoformat(run["finished_at"]) if run["finished_at"] else None
            if _settled(run["state"], finished):
                cache[("counts", key)] = found
    scrape = Scrape()
    for run_id, topic, _state, delivered, _f, _a, _s in ledger:
        totals = scrape.topics.setdefault(topic, {"produced": 0, "scored": 0, "dead_lettered": 0})
        found = counts.get((run_id, topic), {"scored": 0, "dead": (0, 0)})
        totals["produced"] += int(delivered or 0)
        totals["scored"] += found["scored"]
        totals["dead_lettered"] += sum(found["dead"])
    newest = sorted(ledger, key=lambda r: (r[6], r[0]), reverse=True)[: max(1, limit)]
    scrape.runs = [
        {"run_id": r, "topic": t, "state": s,
         "heartbeat_age": round(float(age), 3) if s in LIVE_STATES and age is not None else None}
        for r, t, s, _d, _f, age, _st in newest
    ]  # fmt: skip
    if newest:
        scrape.last_run = _last_run(conn, newest[0], counts, dead, cache)
    return scrape


def _last_run(
    conn: Any, row: tuple, counts: dict[tuple[str, str], dict[str, Any]],
    dead: dict[tuple[str, str], tuple[int, int]], cache: dict[Any, Any],
) -> dict[str, Any]:  # fmt: skip
    run_id, topic, state, delivered, finished_at, _age, _started = row
    key = (run_id, topic)
    found = counts.get(key, {"scored": 0, "dead": (0, 0)})
    open_, redriven = dead.get(key, (0, 0))
    balance = int(delivered or 0) - found["scored"] - open_
    histogram = cache.get(("histogram", key))
    if histogram is None:
        histogram = figures.latency_histogram(conn, run_id)
        if _settled(state, finished_at) and balance <= 0:
            cache[("histogram", key)] = histogram
    return {
        "run_id": run_id, "topic": topic, "state": state, "produced": int(delivered or 0),
        "scored": found["scored"], "dead_lettered": open_, "redriven": redriven,
        "missing": max(0, balance), "resent": max(0, -balance), "latency_histogram": histogram,
    }  # fmt: skip
