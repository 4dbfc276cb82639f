"""A run's figures stored once it is over (table ``run_figures``, migration 0006).

``loanstream.runs.figures`` computes the figures; this module keeps them: ``load`` returns the
stored figures of runs that still match what they were computed from (the ledger row's attempt,
delivered count and finished_at, and the run's redriven dead letters), ``save`` stores a run's.
"""

from __future__ import annotations

from typing import Any

import orjson

LOAD_SQL = """
SELECT run_id, topic, attempt, delivered, finished_at, redriven, figures
FROM run_figures WHERE run_id = ANY(%s)
"""
SAVE_SQL = """
INSERT INTO run_figures (run_id, topic, attempt, delivered, finished_at, redriven, figures)
VALUES (%(run_id)s, %(topic)s, %(attempt)s, %(delivered)s, %(finished_at)s, %(redriven)s,
        %(figures)s::jsonb)
ON CONFLICT (run_id, topic) DO UPDATE SET attempt = EXCLUDED.attempt,
    delivered = EXCLUDED.delivered, finished_at = EXCLUDED.finished_at,
    redriven = EXCLUDED.redriven, figures = EXCLUDED.figures, computed_at = now()
"""
# What a run's figures are computed from: they are used only while these still match.
BASIS = ("attempt", "delivered", "finished_at", "redriven")


def load(cur: Any, runs: list[dict[str, Any]], redriven: dict[tuple[str, str], int]) -> dict:
    """(run_id, topic) -> stored figures, for the ``runs`` whose basis still matches."""
    ids = sorted({r["run_id"] for r in runs})
    if not ids:
        return {}
    cur.execute(LOAD_SQL, (ids,))
    stored = {(row[0], row[1]): row for row in cur.fetchall()}
    found = {}
    for run in runs:
        key = (run["run_id"], run["topic"])
        row = stored.get(key)
        if row is None or run.get("finished_at") is None:
            continue
        basis = (row[2], row[3], row[4].isoformat(), row[5])
        if basis == (run["attempt"], run["delivered"], run["finished_at"], redriven.get(key, 0)):
            found[key] = row[6]
    return found


def save(cur: Any, run: dict[str, Any], figures: dict[str, Any]) -> None:
    """Store ``figures`` of ``run`` (a ledger row with ``redriven``) in the caller's transaction."""
    cur.execute(
        SAVE_SQL,
        {**{k: run[k] for k in ("run_id", "topic", *BASIS)},
         "figures": orjson.dumps(figures).decode()},
    )  # fmt: skip
