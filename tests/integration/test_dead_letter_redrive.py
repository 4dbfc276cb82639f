"""The Loanstream page's queries and the dead-letter redrive on the real Postgres (a fresh
schema per test): counts equal to the tables, hostile raw values kept as data, and a redrive
that scores each dead letter at most once, even when its session is killed mid-way or two
redrives race."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
import threading
import time

import psycopg2
import pytest

from loanstream.monitoring import metrics, queries
from loanstream.runs import figures
from loanstream.sink.redrive import RedriveError, Selection, redrive
from tests.helpers import REPO, query, temp_schema, unique_name
from tests.monitoring_data import HOSTILE, seed_run

pytestmark = pytest.mark.integration


@pytest.fixture
def schema_dsn(settings):
    with temp_schema(settings) as dsn:
        yield dsn


def _connect(dsn: str, name: str = "loanstream-test"):
    return psycopg2.connect(dsn, application_name=name)


def test_run_counts_mix_latency_and_dead_letters_equal_the_tables(schema_dsn, shared_csv) -> None:
    old = seed_run(schema_dsn, shared_csv, unique_name("run"), "t_old", started_ago="1 hour")
    run = seed_run(schema_dsn, shared_csv, unique_name("run"), "t_new", scored=6, fixable=2)
    conn = _connect(schema_dsn)
    try:
        runs = figures.recent_runs(conn, 10)
        detail = figures.run_detail(conn, run.run_id)
        dead = queries.dead_letters(conn, run_id=run.run_id, limit=50)
        one = queries.dead_letter(conn, run.hostile_ids[0])
        assert figures.run_detail(conn, "no-such-run") is None
    finally:
        conn.close()
    assert [r["run_id"] for r in runs] == [run.run_id, old.run_id]  # newest first
    (scored,) = query(schema_dsn, "SELECT count(*) FROM risk_decisions WHERE run_id = %s",
                      (run.run_id,))[0]  # fmt: skip
    (dead_n,) = query(schema_dsn, "SELECT count(*) FROM dead_letters WHERE run_id = %s",
                      (run.run_id,))[0]  # fmt: skip
    assert (detail["produced"], detail["scored"], detail["dead_lettered"], detail["missing"]) == (
        run.produced, scored, dead_n, 0)  # fmt: skip
    assert scored == 6 and dead_n == 2 + len(HOSTILE) == run.dead
    assert sum(detail["bands"].values()) == sum(detail["decisions"].values()) == 6
    assert list(detail["rules_versions"]) == [queries_version()]
    assert detail["latency_ms"]["p50"] is not None and detail["latency_histogram"]["count"] == 6
    assert detail["throughput"]["width_s"] >= 1 and sum(detail["throughput"]["stored"]) > 0
    assert {r["reason"]: r["count"] for r in dead["reasons"]} == {
        "not JSON": len(HOSTILE), "field 'x'": 2}  # fmt: skip
    # hostile bytes come back as text (bad UTF-8 replaced), never interpreted
    assert one["raw_preview"] == HOSTILE[0].decode() and one["key"] == "<b>key-0</b>"
    text = metrics.render(totals={"produced": 9, "dead_open": 1, "dead_redriven": 0},
                          last_run=detail, lag={"t": {0: 3}})  # fmt: skip
    assert f'loanstream_last_run_events{{run_id="{run.run_id}",kind="scored"}} 6' in text
    assert 'loanstream_last_run_latency_seconds_bucket{' in text and 'le="+Inf"} 6' in text
    assert 'loanstream_consumer_lag_events{topic="t",partition="0"} 3' in text


def test_a_retried_producers_resent_events_show_as_resent_not_negative_missing(
    schema_dsn, shared_csv
) -> None:
    run = seed_run(schema_dsn, shared_csv, unique_name("run"), "t_resent", scored=6, fixable=0)
    # the producer's last attempt delivered 5 (the first attempt's events were decided too)
    query_exec(schema_dsn, "UPDATE run_ledger SET delivered = 5 WHERE run_id = %s", (run.run_id,))
    conn = _connect(schema_dsn)
    try:
        (found,) = [r for r in figures.recent_runs(conn, 5) if r["run_id"] == run.run_id]
    finally:
        conn.close()
    assert (found["produced"], found["scored"], found["dead_lettered"]) == (5, 6, len(HOSTILE))
    assert (found["missing"], found["resent"]) == (0, 6 + len(HOSTILE) - 5)


def query_exec(dsn: str, sql: str, params: tuple) -> None:
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
    finally:
        conn.close()


def queries_version() -> str:
    from loanstream.scoring import load_rules

    return load_rules().version


def test_redrive_scores_the_fixable_once_and_keeps_the_rest_with_the_new_error(
    schema_dsn, shared_csv
) -> None:
    run = seed_run(schema_dsn, shared_csv, unique_name("run"), "t_redrive", fixable=2)
    result = redrive(lambda: _connect(schema_dsn), Selection.of(run_id=run.run_id), batch=2)
    assert (result.selected, result.resolved, result.still_failing) == (run.dead, 2, len(HOSTILE))
    assert dict(result.errors) == {"not JSON": len(HOSTILE)}
    rows = query(schema_dsn, "SELECT id, resolved_at IS NOT NULL, resolved_by, redrive_attempts, "
                 "original_error, error FROM dead_letters ORDER BY id")  # fmt: skip
    by_id = {r[0]: r[1:] for r in rows}
    for dl_id in run.fixable_ids:
        assert by_id[dl_id][:3] == (True, result.redrive_id, 1)
    for dl_id in run.hostile_ids:
        resolved, _by, attempts, original, error = by_id[dl_id]
        assert not resolved and attempts == 1 and original == "not JSON: <script>bad"
        assert error != original  # the new error, from today's code
    decided = query(schema_dsn, "SELECT src_partition, count(*) FROM risk_decisions "
                    "WHERE run_id = %s GROUP BY 1", (run.run_id,))  # fmt: skip
    assert dict(decided) == {0: 4, 1: 2}
    conn = _connect(schema_dsn)
    try:
        after = figures.run_detail(conn, run.run_id)
    finally:
        conn.close()
    assert (after["scored"], after["dead_lettered"], after["redriven"], after["missing"]) == (
        6, len(HOSTILE), 2, 0)  # fmt: skip
    # again: the resolved are not selected; the failing fail again (attempt 2); nothing doubles
    again = redrive(lambda: _connect(schema_dsn), Selection.of(run_id=run.run_id))
    assert (again.selected, again.resolved, again.still_failing) == (len(HOSTILE), 0, len(HOSTILE))
    assert query(schema_dsn, "SELECT count(*) FROM risk_decisions")[0][0] == 6
    assert query(schema_dsn, "SELECT max(redrive_attempts) FROM dead_letters")[0][0] == 2


def test_redrive_killed_mid_way_then_rerun_and_racing_redrives_score_each_once(
    schema_dsn, shared_csv
) -> None:
    run = seed_run(schema_dsn, shared_csv, unique_name("run"), "t_kill", scored=1, fixable=30)
    target = run.fixable_ids[12]
    blocker = _connect(schema_dsn)
    blocker.cursor().execute("SELECT id FROM dead_letters WHERE id = %s FOR UPDATE", (target,))
    name = unique_name("redrive")
    failure: list[BaseException] = []

    def first() -> None:
        try:
            redrive(lambda: _connect(schema_dsn, name), Selection.of(run_id=run.run_id), batch=5)
        except psycopg2.Error as exc:
            failure.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    deadline = time.monotonic() + 30
    while not query(schema_dsn, "SELECT 1 FROM pg_stat_activity WHERE application_name = %s "
                    "AND wait_event_type = 'Lock'", (name,)):  # fmt: skip
        assert time.monotonic() < deadline, "the redrive never reached the locked batch"
        time.sleep(0.05)
    # the redrive's session dies in its third batch (two committed)
    query(schema_dsn, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
          "WHERE application_name = %s", (name,))  # fmt: skip
    thread.join(30)
    blocker.rollback()
    blocker.close()
    assert failure, "the killed redrive raised"
    (resolved,) = query(schema_dsn, "SELECT count(*) FROM dead_letters WHERE resolved_at IS NOT "
                        "NULL")[0]  # fmt: skip
    assert resolved == 10, "two batches of 5 committed, the third rolled back whole"
    # re-run twice at once: the rest is scored exactly once between them
    results = []
    threads = [threading.Thread(target=lambda: results.append(redrive(
        lambda: _connect(schema_dsn), Selection.of(run_id=run.run_id), batch=3)))
        for _ in range(2)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(r.resolved for r in results) == 20
    per_position = query(schema_dsn, "SELECT max(n) FROM (SELECT count(*) AS n FROM "
                         "risk_decisions GROUP BY src_topic, src_partition, src_offset) t")  # fmt: skip
    assert per_position[0][0] == 1
    assert query(schema_dsn, "SELECT count(*) FROM risk_decisions WHERE run_id = %s",
                 (run.run_id,))[0][0] == 31  # fmt: skip
    assert query(schema_dsn, "SELECT count(*) FROM risk_scored WHERE run_id = %s",
                 (run.run_id,))[0][0] == 31  # fmt: skip (each loan's decision is its current one)


def test_cli_list_and_replay_print_json_last(schema_dsn, shared_csv) -> None:
    run = seed_run(schema_dsn, shared_csv, unique_name("run"), "t_cli")
    env = {**os.environ, "LOANSTREAM_PG_DSN": schema_dsn,
           "PYTHONPATH": f"{REPO / 'plugins'}:{REPO}"}  # fmt: skip

    def cli(*args: str) -> tuple[int, dict, str]:
        done = subprocess.run([sys.executable, "-m", "loanstream.cli", "dead-letters", *args],
                              env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
        return done.returncode, json.loads(done.stdout.strip().splitlines()[-1]), done.stdout

    code, listed, out = cli("list", "--run-id", run.run_id, "--reason", "NOT json")
    assert code == 0 and listed["shown"] == len(HOSTILE) and listed["ids"]
    assert listed["open_by_reason"] == {"not JSON": len(HOSTILE), "field 'x'": 1}
    assert "<script>" in out and "\\xff" not in out.splitlines()[-1]
    code, replayed, _ = cli("replay", "--run-id", run.run_id, "--reason", "older parser")
    assert code == 0 and (replayed["selected"], replayed["resolved"]) == (1, 1)
    # who: the user running the command
    assert query(schema_dsn, "SELECT DISTINCT resolved_by FROM dead_letters WHERE run_id = %s "
                 "AND resolved_at IS NOT NULL", (run.run_id,)) == [  # fmt: skip
        (f"{getpass.getuser()} (loanstream CLI)",)
    ]
    code, replayed, _ = cli("replay", "--run-id", run.run_id)
    assert code == 0 and replayed["resolved"] == 0 and replayed["still_failing"] == len(HOSTILE)
    code, refused, _ = cli("replay", "--run-id", "x" * 300)
    assert code == 2 and "run id" in refused["error"]
    with pytest.raises(RedriveError):
        Selection.of(ids=[0])


def test_cli_on_a_database_behind_the_migrations_says_what_to_run(resources) -> None:
    dsn = resources.schema(apply=False)  # never migrated
    env = {**os.environ, "LOANSTREAM_PG_DSN": dsn, "PYTHONPATH": f"{REPO / 'plugins'}:{REPO}"}
    done = subprocess.run([sys.executable, "-m", "loanstream.cli", "dead-letters", "replay"],
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1
    assert "loanstream schema migrate" in json.loads(done.stdout.splitlines()[-1])["error"]
