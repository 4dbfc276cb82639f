"""The DAG streams: consumers score while the producer sends, on the running Airflow.

Latency targets belong to bench/bench_latency.py; these tests assert generous bounds only.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest

from loanstream.config import Settings
from tests.helpers import query, unique_name

pytestmark = pytest.mark.e2e

DAG_ID = "loan_stream_pipeline"
REPLAY_DAG_ID = "loan_sample_replay"


@pytest.fixture(scope="module")
def settings() -> Settings:
    from devstack.envfile import load

    load()
    return Settings.from_env()


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _ti(dag_runner, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict:
    for ti in dag_runner.task_instances(dag_id, run_id):
        if ti["task_id"] == task_id and ti.get("map_index", -1) == map_index:
            return ti
    raise AssertionError(f"no task instance {task_id}[{map_index}] in {run_id}")


def _wait_until(check, timeout: float, what: str, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not within {timeout}s: {what}")


def _stored(dsn: str, run_id: str) -> tuple[int, int]:
    ((rows, loans),) = query(
        dsn, "SELECT count(*), count(DISTINCT loan_id) FROM risk_scored WHERE run_id = %s", (run_id,)
    )
    return rows, loans


def test_consumers_score_while_the_producer_sends(
    dag_runner, settings: Settings, shared_csv: Path
) -> None:
    topic = unique_name("e2e_stream")
    run_id = dag_runner.trigger(
        DAG_ID, {"csv_path": str(shared_csv), "rate": 200, "max_events": 2000, "topic": topic}
    )
    # rows land while produce_events is still running
    def landed_while_producing() -> bool:
        states = dag_runner.task_states(DAG_ID, run_id)
        return states.get("produce_events") == "running" and _stored(settings.pg_dsn, run_id)[0] > 0

    _wait_until(landed_while_producing, 120, "rows stored while produce_events runs")
    assert dag_runner.wait(DAG_ID, run_id) == "success", dag_runner.task_states(DAG_ID, run_id)

    produce = _ti(dag_runner, DAG_ID, run_id, "produce_events")
    scorers = [_ti(dag_runner, DAG_ID, run_id, "score_events", i) for i in range(3)]
    produce_end = _ts(produce["end_date"])
    assert all(_ts(s["start_date"]) < produce_end for s in scorers), "consumers ran beside it"
    # each consumer ended soon after the producer (its last event stored), never before it
    assert all(_ts(s["end_date"]) >= produce_end for s in scorers)
    assert all((_ts(s["end_date"]) - produce_end).total_seconds() < 15 for s in scorers)
    assert _stored(settings.pg_dsn, run_id) == (2000, 2000)
    ((first_scored, before_end),) = query(
        settings.pg_dsn,
        "SELECT min(scored_at), count(*) FILTER (WHERE scored_at < %s) FROM risk_scored "
        "WHERE run_id = %s",
        (produce_end, run_id),
    )
    assert before_end > 1000, "most rows were stored before the producer finished"
    # steady state: events sent once the first row was stored; a generous bound (target 0.5 s
    # is the benchmark's)
    ((steady_p99, steady_n),) = query(
        settings.pg_dsn,
        "SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM scored_at - "
        "event_time)), count(*) FROM risk_scored WHERE run_id = %s AND event_time > %s",
        (run_id, first_scored),
    )
    assert steady_n > 1500 and steady_p99 < 3.0, (steady_n, steady_p99)
    summary = dag_runner.xcom(DAG_ID, run_id, "summarize")
    assert summary["produced"] == 2000 and summary["missing"] == 0
    assert summary["run_state"] == "complete" and summary["latency_ms"]["p99"] is not None
    stats = [dag_runner.xcom(DAG_ID, run_id, "score_events", i) for i in range(3)]
    assert {s["stopped_by"] for s in stats} == {"run-complete"}
    assert sum(s["consumed"] for s in stats) == 2000


def test_producer_killed_mid_run_then_cleared_completes_the_file_once(
    dag_runner, settings: Settings, shared_csv: Path
) -> None:
    topic = unique_name("e2e_kill")
    run_id = dag_runner.trigger(
        DAG_ID, {"csv_path": str(shared_csv), "rate": 100, "max_events": 2000, "topic": topic}
    )
    _wait_until(
        lambda: _stored(settings.pg_dsn, run_id)[0] >= 200, 120, "200 rows stored mid-run"
    )
    dag_runner.set_task_state(DAG_ID, run_id, "produce_events", "failed")  # the UI's "mark failed"
    # the consumers end on their own (the ledger says the producer stopped), storing what came
    _wait_until(
        lambda: all(
            dag_runner.task_states(DAG_ID, run_id).get(f"score_events[{i}]")
            in ("success", "failed")
            for i in range(3)
        ),
        90,
        "consumers ended after the producer was killed",
    )
    states = dag_runner.task_states(DAG_ID, run_id)
    assert all(states[f"score_events[{i}]"] == "success" for i in range(3)), states
    ((state, delivered),) = query(
        settings.pg_dsn, "SELECT state, delivered FROM run_ledger WHERE run_id = %s", (run_id,)
    )
    assert state in ("stopped", "failed") and 200 <= delivered < 2000
    rows, loans = _stored(settings.pg_dsn, run_id)
    assert rows == loans == delivered, "every delivered event stored, once"
    stats = [dag_runner.xcom(DAG_ID, run_id, "score_events", i) for i in range(3)]
    assert {s["stopped_by"] for s in stats} <= {"run-stopped", "run-failed", "producer-gone"}

    # the producer and the gate, with their downstream tasks: the consumers run again beside it.
    # Cleared once the run shows failed, as a user sees it: a clear that starts while the
    # scheduler is marking the run failed leaves it failed (its tasks cleared, never scheduled)
    _wait_until(
        lambda: dag_runner.run(DAG_ID, run_id)["state"] == "failed", 60, "the run marked failed"
    )
    dag_runner.clear(DAG_ID, run_id, ["produce_events", "wait_for_events"])
    _wait_until(
        lambda: dag_runner.run(DAG_ID, run_id)["state"] != "failed", 60, "the run is re-queued"
    )
    assert dag_runner.wait(DAG_ID, run_id) == "success", dag_runner.task_states(DAG_ID, run_id)
    assert _stored(settings.pg_dsn, run_id) == (2000, 2000)
    ((src_dupes,),) = query(
        settings.pg_dsn,
        "SELECT count(*) - count(DISTINCT (src_partition, src_offset)) FROM risk_scored "
        "WHERE run_id = %s",
        (run_id,),
    )
    assert src_dupes == 0
    summary = dag_runner.xcom(DAG_ID, run_id, "summarize")
    # the run's figures as the Loanstream page shows them (one read model): the cleared
    # producer sent the file again from its start, so the killed attempt's events were
    # decided twice (resent); every loan is in risk_scored once (above)
    ((decisions,),) = query(
        settings.pg_dsn, "SELECT count(*) FROM risk_decisions WHERE run_id = %s", (run_id,)
    )
    assert summary["produced"] == 2000 and summary["missing"] == 0, summary
    assert summary["scored"] == decisions == 2000 + summary["resent"], summary


def test_overlapping_runs_on_one_topic_both_finish_with_their_own_counts(
    dag_runner, settings: Settings, shared_csv: Path
) -> None:
    """The pipeline triggered while the scheduled replay streams to the same topic."""
    topic = settings.topic
    replay = dag_runner.trigger(REPLAY_DAG_ID, {"slice_size": 2000, "rate": 100, "skip": 1000})
    try:
        _wait_until(
            lambda: _stored(settings.pg_dsn, replay)[0] > 0, 120, "the replay is streaming"
        )
        pipeline = dag_runner.trigger(
            DAG_ID, {"csv_path": str(shared_csv), "rate": 400, "max_events": 800, "topic": topic}
        )
        assert dag_runner.wait(DAG_ID, pipeline) == "success", dag_runner.task_states(
            DAG_ID, pipeline
        )
        assert dag_runner.wait(REPLAY_DAG_ID, replay) == "success", dag_runner.task_states(
            REPLAY_DAG_ID, replay
        )
    finally:
        dag_runner.api.request(
            "PATCH", f"/api/v2/dags/{REPLAY_DAG_ID}", {"is_paused": True},
            {"update_mask": ["is_paused"]},
        )  # fmt: skip
    assert _stored(settings.pg_dsn, replay) == (2000, 2000)
    assert _stored(settings.pg_dsn, pipeline) == (800, 800)
    for dag_id, run_id, n in ((REPLAY_DAG_ID, replay, 2000), (DAG_ID, pipeline, 800)):
        summary = dag_runner.xcom(dag_id, run_id, "summarize")
        assert (summary["produced"], summary["scored"], summary["missing"]) == (n, n, 0)
    # they did overlap: a consumer of the pipeline waited for the replay's to hand over
    waited = [
        dag_runner.xcom(DAG_ID, pipeline, "score_events", i)["waited_for_lease_seconds"]
        for i in range(3)
    ]
    assert max(waited) > 0, waited


def test_a_run_that_produces_nothing_ends_promptly_with_its_reason(
    dag_runner, settings: Settings
) -> None:
    started = time.monotonic()
    run_id = dag_runner.trigger(REPLAY_DAG_ID, {"slice_size": 10, "rate": 50, "skip": 10**6})
    try:
        assert dag_runner.wait(REPLAY_DAG_ID, run_id, timeout=180) == "success"
    finally:
        dag_runner.api.request(
            "PATCH", f"/api/v2/dags/{REPLAY_DAG_ID}", {"is_paused": True},
            {"update_mask": ["is_paused"]},
        )  # fmt: skip
    assert time.monotonic() - started < 120, "no 10-minute sensor timeout"
    states = dag_runner.task_states(REPLAY_DAG_ID, run_id)
    assert states["wait_for_events"] == "skipped" and states["summarize"] == "success", states
    log = dag_runner.log(REPLAY_DAG_ID, run_id, "wait_for_events")
    assert "nothing to score" in log and "none delivered" in log, log[-2000:]
    summary = dag_runner.xcom(REPLAY_DAG_ID, run_id, "summarize")
    assert summary["produced"] == 0 and summary["missing"] == 0
