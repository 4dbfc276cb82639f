"""Migration 0005 on a populated schema: a database at 0004, filled the way the old sink and
redrive filled it (every decision in risk_decisions, the latest per loan in the risk_scored
table, rows stored before risk_decisions existed, a redriven older event), migrated: every
stored decision is kept, risk_scored (now a view) answers what the table held, and
``prune_risk_decisions`` deletes old history but never a current decision."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg2
import pytest
from psycopg2.extras import execute_values

from loanstream.scoring import load_rules
from loanstream.sink.rows import ROW_COLUMNS, score_value
from loanstream.store import migrations
from tests.helpers import query
from tests.monitoring_data import valid_events
from tests.resources import MIGRATIONS_DIR

pytestmark = pytest.mark.integration

# a decision's columns but scored_at (the old sink stamped each of its two rows with its own clock)
COLS = ", ".join(ROW_COLUMNS)
SAME = COLS.replace("reasons", "reasons::text")  # comparable (jsonb reads as a list)
SCORE = ROW_COLUMNS.index("risk_score")


def _rows(csv: Path, n: int, topic: str, run_id: str, first_offset: int) -> list[tuple]:
    rules = load_rules()
    rows = []
    for i, value in enumerate(valid_events(csv, n, "m-")):
        scored = score_value(value, rules, topic=topic, partition=0, offset=first_offset + i,
                             run_id=run_id, payload=False)  # fmt: skip
        assert not isinstance(scored, str), scored
        rows.append(scored[0])
    return rows


def _with(row: tuple, **changes: object) -> tuple:
    values = dict(zip(ROW_COLUMNS, row, strict=True))
    values.update(changes)
    return tuple(values[c] for c in ROW_COLUMNS)


def test_0005_keeps_every_decision_and_the_current_state(resources, shared_csv, tmp_path) -> None:
    old = tmp_path / "migrations"
    old.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("000[1-4]_*.sql")):
        shutil.copy(path, old / path.name)
    dsn = resources.schema(apply=False)
    conn = psycopg2.connect(dsn)
    try:
        migrations.migrate(conn, old)
        first = _rows(shared_csv, 40, "t", "first", 0)
        replay = [_with(r, run_id="replay", src_offset=r[-1] + 100, risk_score=min(100, r[SCORE] + 1),
                        event_time="2030-01-01T00:00:00+00:00") for r in first[:10]]  # fmt: skip
        before_decisions = _rows(shared_csv, 45, "t0", "old", 0)[40:]  # only in risk_scored
        redriven = [_with(first[20], run_id="first", src_topic="t", src_offset=500,
                          event_time="2020-01-01T00:00:00+00:00")]  # fmt: skip
        with conn, conn.cursor() as cur:
            insert = "INSERT INTO {} (" + COLS + ") VALUES %s"  # noqa: S608 - constant columns
            execute_values(cur, insert.format("risk_decisions"), first + replay + redriven)
            # the table: the latest per loan (the replay won; the older redriven event did not)
            latest = {r[0]: r for r in first + replay + before_decisions}
            execute_values(cur, insert.format("risk_scored"), list(latest.values()))
        before_scored = query(dsn, f"SELECT {SAME} FROM risk_scored ORDER BY loan_id")  # noqa: S608
        before_kept = query(dsn, f"SELECT {SAME} FROM risk_decisions")  # noqa: S608

        state, done = migrations.migrate(conn, MIGRATIONS_DIR)
        assert [m.version for m in done if m.version == 5] == [5] and state.up_to_date
    finally:
        conn.close()

    kept = query(dsn, f"SELECT {SAME} FROM risk_decisions")  # noqa: S608
    assert len(kept) == len(before_kept) + len(before_decisions) == 40 + 10 + 1 + 5
    assert set(before_kept) | set(before_scored) == set(kept)
    after_scored = query(dsn, f"SELECT {SAME} FROM risk_scored ORDER BY loan_id")  # noqa: S608
    assert after_scored == before_scored
    assert query(dsn, "SELECT relkind FROM pg_class WHERE relname = 'risk_scored' "
                 "AND relnamespace = current_schema()::regnamespace") == [("v",)]  # fmt: skip

    # retention: everything is "old" at an age of 0; only the superseded decisions go
    ((pruned,),) = query(dsn, "SELECT prune_risk_decisions('0 seconds')")
    assert pruned == 10 + 1  # the ten first decisions the replay replaced, the redriven one
    assert query(dsn, f"SELECT {SAME} FROM risk_scored ORDER BY loan_id") == before_scored  # noqa: S608
    with pytest.raises(psycopg2.Error, match="append-only"):
        query(dsn, "DELETE FROM risk_decisions")
