"""A run's summary: what its producer reported, beside the run's figures as Postgres holds them.

The counts, bands, decisions and latency come from :func:`loanstream.runs.figures.run_figures`,
the read model the Loanstream page, its API and the metrics use too, so all of them say the
same of a run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from loanstream.runs.figures import run_figures
from loanstream.store.connect import pg_connect


class RunIncompleteError(RuntimeError):
    """Events of the run are neither scored nor dead-lettered: something was lost."""

    def __init__(self, message: str, summary: dict[str, Any]) -> None:
        super().__init__(message)
        self.summary = summary


def stored_counts(
    pg_dsn: str, run_id: str, topic: str | None = None, delivered: int = 0
) -> dict[str, Any]:
    """The run's figures (``run_figures``) read on a connection of its own."""
    conn = pg_connect(pg_dsn, "loanstream-summary")
    try:
        return run_figures(conn, run_id, topic, delivered, store=True)
    finally:
        conn.close()


def summarize_run(
    pg_dsn: str,
    run_id: str,
    produced: dict[str, Any] | None,
    consumed: Iterable[dict[str, Any] | None],
) -> dict[str, Any]:
    """Check ``produced == scored + dead-lettered`` for the run; raise if anything is missing.

    ``produced`` is the producer's stats, ``consumed`` the sink stats of each partition task.
    Counts come from Postgres, so events stored by an earlier attempt of a retried task count,
    and the ledger knows what was delivered even when the producer's XCom is missing (killed).
    """
    produced = produced or {}
    parts = [c for c in consumed if c]
    figures = stored_counts(
        pg_dsn, run_id, produced.get("topic"), int(produced.get("delivered", 0))
    )
    consume_seconds = max((c.get("seconds", 0.0) for c in parts), default=0.0)
    summary = {
        "run_id": run_id,
        "topic": figures["topic"] or produced.get("topic"),
        "produced": figures["produced"],
        "rejected_rows": int(produced.get("rejected", 0)),
        "skipped_lines": produced.get("skipped_lines", {}),
        "value_schema": produced.get("value_schema", {}),
        "dropped_columns": produced.get("dropped_columns", {}),
        "scored": figures["scored"],
        "dead_lettered": figures["dead_lettered"],
        "redriven": figures["redriven"],
        "missing": figures["missing"],
        "resent": figures["resent"],
        "bands": figures["bands"],
        "decisions": figures["decisions"],
        "rules_versions": figures["rules_versions"],
        "latency_ms": figures["latency_ms"],
        "run_state": figures["state"],
        "consumed_this_run": sum(int(c.get("consumed", 0)) for c in parts),
        "produce_seconds": produced.get("seconds"),
        "produce_eps": produced.get("eps"),
        "consume_seconds": round(consume_seconds, 3),
        "consume_eps": round(sum(float(c.get("eps", 0.0)) for c in parts), 1),
    }
    if summary["missing"] > 0:
        raise RunIncompleteError(
            f"{summary['missing']} of {summary['produced']} events of run {run_id} are neither "
            "in risk_decisions nor in dead_letters. Re-run the score_events tasks (they resume "
            "from the offsets stored in Postgres); if it persists, compare consumer_offsets "
            "with the topic's end offsets",
            summary,
        )
    return summary
