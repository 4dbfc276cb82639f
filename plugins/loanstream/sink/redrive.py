"""Dead-letter redrive: score stored dead letters again with the current code and rules.

A dead letter that now scores becomes a decision like any other, in one transaction per batch:
appended to ``risk_decisions`` (keyed by its source position: it can never be decided twice;
it becomes its loan's current decision in the ``risk_scored`` view unless that loan holds a
newer event), and marked resolved (``resolved_at``, and ``resolved_by``: who redrove it, the
page's logged-in user, else the redrive's id). One that still fails keeps its row, with the new
error in ``error`` (the first kept in ``original_error``) and ``redrive_attempts`` counted.

Exactly once, even when a redrive is killed and run again, or two run at the same time: each
batch locks its dead-letter rows (``FOR UPDATE``) and takes only those still open after the
lock; a killed batch rolls back whole; a resolved row is never selected again. The run id of
a redriven row is the dead letter's, so the run's counts stay whole (produced = scored +
dead-lettered). Columns: migration ``0002_dead_letter_redrive``.

A dead letter holds the event's raw bytes, a framed one with its header: its schema id is
resolved as the sink resolves it (``schema_ids``, once per redrive), so an event dead-lettered
for a foreign id stays a dead letter with that reason, and the registry unreachable fails the
batch (rolled back whole) with a ``SinkError`` naming its address.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg2.extras import execute_values

from loanstream.config import Settings
from loanstream.scoring import RuleSet, load_rules
from loanstream.sink.rows import ROW_COLUMNS, score_value
from loanstream.sink.schema_ids import ContractSchemaIds

log = logging.getLogger(__name__)

MAX_RUN_ID_CHARS = 250
MAX_REASON_CHARS = 200
MAX_IDS = 1000
MAX_LIMIT = 1_000_000
BATCH = 500

SELECT_SQL = """
SELECT id FROM dead_letters
WHERE resolved_at IS NULL
  AND (%(run_id)s::text IS NULL OR run_id = %(run_id)s)
  AND (%(reason)s::text IS NULL OR strpos(lower(error), lower(%(reason)s)) > 0)
  AND (%(ids)s::bigint[] IS NULL OR id = ANY(%(ids)s))
ORDER BY id LIMIT %(limit)s
"""
# Under READ COMMITTED a row another redrive resolved while we waited for its lock is
# re-checked against resolved_at IS NULL after the wait, and left out.
LOCK_SQL = """
SELECT id, topic, partition, "offset", raw_value, error, run_id FROM dead_letters
WHERE id = ANY(%s) AND resolved_at IS NULL ORDER BY id FOR UPDATE
"""
_COLS = ", ".join(ROW_COLUMNS)
DECISIONS_SQL = f"""
INSERT INTO risk_decisions ({_COLS}) VALUES %s
ON CONFLICT (src_topic, src_partition, src_offset) DO NOTHING
RETURNING src_topic, src_partition, src_offset
"""  # noqa: S608 - column names are constants of loanstream.sink.rows
RESOLVE_SQL = """
UPDATE dead_letters SET resolved_at = now(), resolved_by = %(by)s,
    redrive_attempts = redrive_attempts + 1, last_redrive_at = now(),
    original_error = coalesce(original_error, error)
WHERE id = ANY(%(ids)s)
"""
STILL_FAILING_SQL = """
UPDATE dead_letters AS d SET error = t.error, original_error = coalesce(d.original_error, d.error),
    redrive_attempts = d.redrive_attempts + 1, last_redrive_at = now()
FROM unnest(%(ids)s::bigint[], %(errors)s::text[]) AS t(id, error)
WHERE d.id = t.id
"""


class RedriveError(ValueError):
    """A filter out of range: nothing was selected or changed."""


@dataclass(frozen=True)
class Selection:
    """Which dead letters to redrive: open ones matching every filter given."""

    run_id: str | None = None
    reason: str | None = None  # case-insensitive substring of the error
    ids: tuple[int, ...] | None = None
    limit: int = 10_000

    def __post_init__(self) -> None:
        if self.run_id is not None and not 0 < len(self.run_id) <= MAX_RUN_ID_CHARS:
            raise RedriveError(f"run id must have 1 to {MAX_RUN_ID_CHARS} characters")
        if self.reason is not None and not 0 < len(self.reason) <= MAX_REASON_CHARS:
            raise RedriveError(f"reason must have 1 to {MAX_REASON_CHARS} characters")
        if self.ids is not None and not 0 < len(self.ids) <= MAX_IDS:
            raise RedriveError(f"give 1 to {MAX_IDS} dead-letter ids")
        if self.ids is not None and any(not isinstance(i, int) or i < 1 for i in self.ids):
            raise RedriveError("dead-letter ids are positive integers")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise RedriveError(f"limit must lie in 1..{MAX_LIMIT}")

    @classmethod
    def of(
        cls,
        run_id: str | None = None,
        reason: str | None = None,
        ids: Sequence[int] | None = None,
        limit: int | None = None,
    ) -> Selection:
        """From loose input (CLI, DAG params, a form): blanks mean "no filter"."""
        run_id = (run_id or "").strip() or None
        reason = (reason or "").strip() or None
        return cls(run_id, reason, tuple(ids) if ids else None, int(limit or 10_000))

    def params(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "reason": self.reason,
            "ids": list(self.ids) if self.ids else None,
            "limit": self.limit,
        }


@dataclass
class RedriveResult:
    """What a redrive did (its XCom and the CLI's JSON)."""

    redrive_id: str
    resolved_by: str = ""  # recorded in dead_letters.resolved_by (default: redrive_id)
    selected: int = 0
    resolved: int = 0
    still_failing: int = 0
    skipped: int = 0  # resolved by someone else between selection and lock
    already_decided: int = 0  # resolved: its source position was in risk_decisions already
    bands: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)  # new reasons of those still failing
    rules_version: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "redrive_id": self.redrive_id,
            "resolved_by": self.resolved_by,
            "selected": self.selected,
            "resolved": self.resolved,
            "still_failing": self.still_failing,
            "skipped": self.skipped,
            "already_decided": self.already_decided,
            "bands": dict(sorted(self.bands.items())),
            "errors": dict(self.errors.most_common(20)),
            "rules_version": self.rules_version,
            "seconds": round(self.seconds, 3),
        }

    def human_line(self) -> str:
        return (
            f"redrive {self.redrive_id}: {self.selected} dead letters selected, "
            f"{self.resolved} scored and resolved, {self.still_failing} still failing, "
            f"{self.skipped} resolved meanwhile by another redrive, in {self.seconds:.2f} s "
            f"(rules {self.rules_version})"
        )


def _reason(error: str) -> str:
    return error.split(": ", 1)[0]


def select_ids(conn: Any, selection: Selection) -> list[int]:
    """The open dead letters ``selection`` matches, oldest first."""
    with conn, conn.cursor() as cur:
        cur.execute(SELECT_SQL, selection.params())
        return [i for (i,) in cur.fetchall()]


def _redrive_batch(
    conn: Any,
    ids: list[int],
    rules: RuleSet,
    result: RedriveResult,
    schema_ids: ContractSchemaIds,
) -> None:
    """One transaction: lock the still-open rows of ``ids``, score, store, mark."""
    with conn, conn.cursor() as cur:
        cur.execute(LOCK_SQL, (ids,))
        locked = cur.fetchall()
        result.skipped += len(ids) - len(locked)
        rows: dict[tuple[str, int, int], tuple] = {}
        ids_of: dict[tuple[str, int, int], int] = {}
        failing: list[tuple[int, str]] = []
        for dl_id, topic, partition, offset, raw, _old, run_id in locked:
            scored = score_value(
                bytes(raw) if raw is not None else b"", rules, topic=topic,
                partition=partition, offset=offset, run_id=run_id, payload=False,
                schema_ids=schema_ids,
            )  # fmt: skip
            if isinstance(scored, str):
                failing.append((dl_id, scored))
                continue
            position = (topic, partition, offset)
            rows[position] = scored[0]
            ids_of[position] = dl_id
        if rows:
            inserted = execute_values(cur, DECISIONS_SQL, list(rows.values()), fetch=True)
            new = {tuple(r) for r in inserted}
            result.already_decided += len(rows) - len(new)
            for position in new:
                result.bands[rows[position][ROW_COLUMNS.index("risk_band")]] += 1  # type: ignore[index]
            cur.execute(RESOLVE_SQL, {"by": result.resolved_by, "ids": list(ids_of.values())})
            result.resolved += len(rows)
        if failing:
            cur.execute(
                STILL_FAILING_SQL,
                {"ids": [i for i, _ in failing], "errors": [e for _, e in failing]},
            )
            result.still_failing += len(failing)
            result.errors.update(_reason(e) for _, e in failing)


def redrive(
    connect: Callable[[], Any],
    selection: Selection,
    *,
    rules: RuleSet | None = None,
    redrive_id: str | None = None,
    resolved_by: str | None = None,
    batch: int = BATCH,
    progress: Callable[[RedriveResult], None] | None = None,
    schema_ids: ContractSchemaIds | None = None,
) -> RedriveResult:
    """Score the dead letters ``selection`` matches again; see the module's docstring.

    :param connect: returns a new psycopg2 connection to the loanstream database.
    :param redrive_id: this redrive's id (default ``redrive-<random>``).
    :param resolved_by: who redrives, recorded in ``resolved_by`` (default: ``redrive_id``).
    :param progress: called after each batch (the log's milestones).
    :param schema_ids: resolves framed events' schema ids (default: in the registry at
        ``LOANSTREAM_SCHEMA_REGISTRY_URL``, asked only if a framed one is selected).
    """
    rules = rules or load_rules()
    schema_ids = schema_ids or ContractSchemaIds(Settings.from_env().schema_registry_url)
    redrive_id = redrive_id or f"redrive-{uuid.uuid4().hex[:12]}"
    result = RedriveResult(redrive_id, resolved_by=resolved_by or redrive_id)
    result.rules_version = rules.version
    started = time.monotonic()
    conn = connect()
    try:
        ids = select_ids(conn, selection)
        result.selected = len(ids)
        for start in range(0, len(ids), batch):
            _redrive_batch(conn, ids[start : start + batch], rules, result, schema_ids)
            result.seconds = time.monotonic() - started
            if progress is not None:
                progress(result)
    finally:
        conn.close()
    result.seconds = time.monotonic() - started
    return result
