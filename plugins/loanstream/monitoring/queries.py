"""What the Loanstream page, its JSON API and the metrics show beyond a run's figures (those are
:mod:`loanstream.runs.figures`): dead letters by reason with examples, one dead letter, totals.

Functions take an open psycopg2 connection and return plain dicts/lists (JSON-ready).
"""

from __future__ import annotations

from typing import Any

from loanstream.runs.figures import iso

# The reason of a dead letter, as a class: the text before the first ": " of its error
# ("not JSON", "field 'loan_amnt'", "empty value"); the full error stays in the row.
DEAD_REASONS_SQL = """
SELECT split_part(error, ': ', 1) AS reason, count(*)
FROM dead_letters
WHERE resolved_at IS NULL AND (%(run_id)s::text IS NULL OR run_id = %(run_id)s)
GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 50
"""
DEAD_EXAMPLES_SQL = """
SELECT id, run_id, topic, partition, "offset", key, error, original_error, failed_at,
       resolved_at, resolved_by, redrive_attempts, last_redrive_at, octet_length(raw_value),
       substring(raw_value FROM 1 FOR %(preview)s)
FROM dead_letters
WHERE (%(run_id)s::text IS NULL OR run_id = %(run_id)s)
  AND (%(reason)s::text IS NULL OR strpos(lower(error), lower(%(reason)s)) > 0)
  AND (%(open_only)s = false OR resolved_at IS NULL)
ORDER BY id DESC LIMIT %(limit)s
"""
DEAD_LETTER_SQL = """
SELECT id, run_id, topic, partition, "offset", key, error, original_error, failed_at,
       resolved_at, resolved_by, redrive_attempts, last_redrive_at, octet_length(raw_value),
       substring(raw_value FROM 1 FOR %(preview)s)
FROM dead_letters WHERE id = %(id)s
"""
_DEAD_FIELDS = (
    "id", "run_id", "topic", "partition", "offset", "key", "error", "original_error",
    "failed_at", "resolved_at", "resolved_by", "redrive_attempts", "last_redrive_at", "bytes",
)  # fmt: skip
DEAD_TOTALS_SQL = """
SELECT count(*) FILTER (WHERE resolved_at IS NULL), count(*) FILTER (WHERE resolved_at IS NOT NULL)
FROM dead_letters
"""
PRODUCED_TOTAL_SQL = "SELECT coalesce(sum(delivered), 0) FROM run_ledger"
PREVIEW_BYTES = 4096  # of a dead letter's raw value shown (the full size is given)



def _dead_row(row: tuple) -> dict[str, Any]:
    found = {k: iso(v) for k, v in zip(_DEAD_FIELDS, row[:-1], strict=True)}
    raw = bytes(row[-1]) if row[-1] is not None else b""
    found["raw_preview"] = raw.decode("utf-8", "replace")
    found["raw_truncated"] = (found["bytes"] or 0) > len(raw)
    return found


def dead_letters(
    conn: Any,
    *,
    run_id: str | None = None,
    reason: str | None = None,
    limit: int = 20,
    open_only: bool = True,
) -> dict[str, Any]:
    """Open dead letters counted by reason (of ``run_id`` or all), and the latest examples
    (matching ``reason`` as a case-insensitive substring of the error)."""
    limit = max(1, min(int(limit), 500))
    with conn.cursor() as cur:
        cur.execute(DEAD_REASONS_SQL, {"run_id": run_id})
        reasons = [{"reason": r, "count": n} for r, n in cur.fetchall()]
        cur.execute(
            DEAD_EXAMPLES_SQL,
            {"run_id": run_id, "reason": reason or None, "open_only": open_only,
             "limit": limit, "preview": PREVIEW_BYTES},
        )  # fmt: skip
        examples = [_dead_row(row) for row in cur.fetchall()]
    return {"run_id": run_id, "reasons": reasons, "examples": examples}


def dead_letter(conn: Any, dead_letter_id: int) -> dict[str, Any] | None:
    """One dead letter with the start of its raw value (as text, bad UTF-8 replaced)."""
    with conn.cursor() as cur:
        cur.execute(DEAD_LETTER_SQL, {"id": int(dead_letter_id), "preview": PREVIEW_BYTES})
        row = cur.fetchone()
    return None if row is None else _dead_row(row)


def totals(conn: Any) -> dict[str, int]:
    """Cheap totals over every run (for the metrics): produced, dead letters open/redriven."""
    with conn.cursor() as cur:
        cur.execute(PRODUCED_TOTAL_SQL)
        (produced,) = cur.fetchone()
        cur.execute(DEAD_TOTALS_SQL)
        open_, resolved = cur.fetchone()
    return {"produced": int(produced), "dead_open": open_, "dead_redriven": resolved}
