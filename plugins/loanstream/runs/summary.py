"""A run's summary: produced vs stored, read back from Postgres by run id."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg2


class RunIncompleteError(RuntimeError):
    """Events of the run are neither scored nor dead-lettered: something was lost."""

    def __init__(self, message: str, summary: dict[str, Any]) -> None:
        super().__init__(message)
        self.summary = summary


# End-to-end latency of the run's stored rows: scored_at (written just before the commit)
# minus the event's event_time (stamped by the producer as it sends), in milliseconds.
LATENCY_SQL = """
SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1)::float8,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 1)::float8,
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1)::float8,
       round(max(ms)::numeric, 1)::float8
FROM (SELECT EXTRACT(EPOCH FROM scored_at - event_time) * 1000 AS ms
      FROM risk_scored WHERE run_id = %s) AS t
"""


def stored_counts(pg_dsn: str, run_id: str) -> dict[str, Any]:
    """Rows scored and dead-lettered in Postgres for ``run_id``, with bands and decisions."""
    with psycopg2.connect(pg_dsn, connect_timeout=10) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT risk_band, decision, count(*) FROM risk_scored WHERE run_id = %s "
            "GROUP BY risk_band, decision",
            (run_id,),
        )
        bands: dict[str, int] = {}
        decisions: dict[str, int] = {}
        for band, decision, n in cur.fetchall():
            bands[band] = bands.get(band, 0) + n
            decisions[decision] = decisions.get(decision, 0) + n
        cur.execute("SELECT count(*) FROM dead_letters WHERE run_id = %s", (run_id,))
        (dead,) = cur.fetchone()
        cur.execute(LATENCY_SQL, (run_id,))
        p50, p95, p99, worst = cur.fetchone()
        cur.execute(
            "SELECT state, delivered, message FROM run_ledger WHERE run_id = %s "
            "ORDER BY started_at DESC LIMIT 1",
            (run_id,),
        )
        ledger = cur.fetchone()
    conn.close()
    return {
        "scored": sum(bands.values()),
        "dead_lettered": dead,
        "bands": dict(sorted(bands.items())),
        "decisions": dict(sorted(decisions.items())),
        "latency_ms": {"p50": p50, "p95": p95, "p99": p99, "max": worst},
        "run_state": ledger[0] if ledger else None,
        "ledger_delivered": ledger[1] if ledger else None,
    }


def summarize_run(
    pg_dsn: str,
    run_id: str,
    produced: dict[str, Any] | None,
    consumed: Iterable[dict[str, Any] | None],
) -> dict[str, Any]:
    """Check ``produced == scored + dead-lettered`` for the run; raise if anything is missing.

    ``produced`` is the producer's stats, ``consumed`` the sink stats of each partition task.
    Counts come from Postgres, so events stored by an earlier attempt of a retried task count.
    """
    produced = produced or {}
    parts = [c for c in consumed if c]
    stored = stored_counts(pg_dsn, run_id)
    # the ledger knows what was delivered even when the producer's XCom is missing (killed)
    delivered = int(produced.get("delivered", stored["ledger_delivered"] or 0))
    missing = delivered - stored["scored"] - stored["dead_lettered"]
    consume_seconds = max((c.get("seconds", 0.0) for c in parts), default=0.0)
    summary = {
        "run_id": run_id,
        "topic": produced.get("topic"),
        "produced": delivered,
        "rejected_rows": int(produced.get("rejected", 0)),
        "skipped_lines": produced.get("skipped_lines", {}),
        **stored,
        "missing": missing,
        "consumed_this_run": sum(int(c.get("consumed", 0)) for c in parts),
        "produce_seconds": produced.get("seconds"),
        "produce_eps": produced.get("eps"),
        "consume_seconds": round(consume_seconds, 3),
        "consume_eps": round(sum(float(c.get("eps", 0.0)) for c in parts), 1),
    }
    if missing > 0:
        raise RunIncompleteError(
            f"{missing} of {delivered} events of run {run_id} are neither in risk_scored nor in "
            "dead_letters. Re-run the score_events tasks (they resume from the offsets stored "
            "in Postgres); if it persists, compare consumer_offsets with the topic's end "
            "offsets",
            summary,
        )
    return summary
