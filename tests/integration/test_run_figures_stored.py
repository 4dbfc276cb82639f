"""A run's figures are computed once and stored (``run_figures``): the page's and the metrics'
reads after that take them from there, equal to what the decisions give; a redrive or another
attempt of the producer makes them computed again; pruned history leaves them as they were."""

from __future__ import annotations

import json

import psycopg2
import pytest

from loanstream.cli import main
from loanstream.runs import figures
from loanstream.sink.redrive import Selection, redrive
from loanstream.sink.rows import ROW_COLUMNS
from tests.helpers import query, temp_schema, unique_name
from tests.monitoring_data import seed_run

pytestmark = pytest.mark.integration

SAME = ("produced", "scored", "dead_lettered", "redriven", "missing", "bands", "decisions",
        "rules_versions", "latency_ms", "throughput", "latency_histogram")  # fmt: skip


@pytest.fixture
def schema_dsn(live_settings):
    with temp_schema(live_settings) as dsn:
        yield dsn


def _detail(dsn: str, run_id: str) -> dict:
    conn = psycopg2.connect(dsn)
    try:
        return figures.run_detail(conn, run_id)
    finally:
        conn.close()


def test_a_final_runs_figures_are_stored_once_and_read_back(
    schema_dsn, shared_csv, monkeypatch, capsys
) -> None:
    run = seed_run(schema_dsn, shared_csv, unique_name("run"), "t_fig", scored=6, fixable=2,
                   started_ago="1 hour")  # fmt: skip
    first = _detail(schema_dsn, run.run_id)
    assert first["figures_stored"]  # computed, then stored (the run finished an hour ago)
    assert query(schema_dsn, "SELECT count(*) FROM run_figures")[0][0] == 1
    again = _detail(schema_dsn, run.run_id)
    assert again["figures_stored"]
    assert {k: again[k] for k in SAME} == {k: first[k] for k in SAME} | {
        "latency_histogram": again["latency_histogram"]}  # fmt: skip (JSON: lists for tuples)
    assert [list(b) for b in first["latency_histogram"]["buckets_ms"]] == again[
        "latency_histogram"]["buckets_ms"]  # fmt: skip
    # the metrics' histogram of the last run is the stored one: read, not computed again
    conn = psycopg2.connect(schema_dsn)
    try:
        monkeypatch.setattr(figures, "_histogram", lambda *a: pytest.fail("computed again"))
        assert figures.latency_histogram(conn, run.run_id) == again["latency_histogram"]
    finally:
        monkeypatch.undo()
        conn.close()

    # a redrive changes the run: its figures are computed again (and stored again)
    result = redrive(lambda: psycopg2.connect(schema_dsn), Selection.of(run_id=run.run_id))
    assert result.resolved == 2
    after = _detail(schema_dsn, run.run_id)
    assert (after["scored"], after["redriven"], after["missing"]) == (8, 2, 0)

    # a loan of the run scored again (a later event); `loanstream decisions prune` deletes its
    # old decision, never a current one; the run's figures stay as they were
    cols = ", ".join(c for c in ROW_COLUMNS if c not in ("run_id", "src_offset", "event_time"))
    query(schema_dsn, f"INSERT INTO risk_decisions ({cols}, run_id, src_offset, event_time) "  # noqa: S608
          f"SELECT {cols}, 'later', src_offset + 1000, event_time + interval '1 second' "
          "FROM risk_decisions WHERE run_id = %s AND src_partition = 0 LIMIT 1 "
          "RETURNING 1", (run.run_id,))  # fmt: skip
    current = query(schema_dsn, "SELECT * FROM risk_scored ORDER BY loan_id")
    monkeypatch.setenv("LOANSTREAM_PG_DSN", schema_dsn)
    assert main(["decisions", "prune", "--older-than", "0s"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (out["deleted"], out["runs_touched"], out["figures_stored"]) == (1, 2, 1)
    assert query(schema_dsn, "SELECT * FROM risk_scored ORDER BY loan_id") == current
    assert _detail(schema_dsn, run.run_id)["scored"] == 8


def test_summarize_stores_at_the_runs_end_and_a_new_attempt_recomputes(schema_dsn, shared_csv):
    run = seed_run(schema_dsn, shared_csv, unique_name("run"), "t_sum", scored=4, fixable=0)
    conn = psycopg2.connect(schema_dsn)
    try:
        listed = figures.recent_runs(conn, 5)
        assert not listed[0]["figures_stored"]  # finished moments ago: the page waits
        summary = figures.run_figures(conn, run.run_id, store=True)
        assert summary["figures_stored"] and summary["scored"] == 4
        assert figures.recent_runs(conn, 5)[0]["figures_stored"]
        with conn, conn.cursor() as cur:  # the producer runs again (a cleared task)
            cur.execute("UPDATE run_ledger SET attempt = 2 WHERE run_id = %s", (run.run_id,))
        assert not figures.recent_runs(conn, 5)[0]["figures_stored"]
    finally:
        conn.close()
