"""Issue 14 through the running Airflow: connection tests, typed params, assets, the example
asset-scheduled Dag and event-driven scoring by the AssetWatcher."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loanstream.airflow.assets import RISK_DECISIONS, RISK_SCORED, kafka_topic_uri
from loanstream.config import Settings
from loanstream.kafka.topics import ensure_topic
from tests.helpers import REPO, query, unique_name
from tests.resources import delete_topics

pytestmark = pytest.mark.e2e

PIPELINE = "loan_stream_pipeline"
REPORT = "loan_band_report"
WATCHER = "loan_stream_watcher"
FORGET_TOPIC_SQL = """
WITH o AS (DELETE FROM consumer_offsets WHERE topic = %(topic)s RETURNING 1),
     p AS (DELETE FROM run_partitions WHERE topic = %(topic)s RETURNING 1),
     l AS (DELETE FROM run_ledger WHERE topic = %(topic)s RETURNING 1)
SELECT (SELECT count(*) FROM o), (SELECT count(*) FROM p), (SELECT count(*) FROM l)
"""
CONNECTIONS = ("loanstream_kafka_admin", "loanstream_kafka_producer", "loanstream_kafka_sink",
               "loanstream_kafka_watcher", "loanstream_postgres")  # fmt: skip


@pytest.fixture(scope="module")
def settings() -> Settings:
    from devstack.envfile import load

    load()
    return Settings.from_env()


def _set_paused(dag_runner, dag_id: str, paused: bool) -> None:
    dag_runner.wait_for_dag(dag_id)
    dag_runner.api.request(
        "PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": paused}, {"update_mask": ["is_paused"]}
    )


def _runs(dag_runner, dag_id: str) -> list[dict[str, Any]]:
    body = dag_runner.api.request(
        "GET", f"/api/v2/dags/{dag_id}/dagRuns", query={"order_by": "-run_after", "limit": "20"}
    )
    return body["dag_runs"]


def _wait_for_stable_group(settings: Settings, group: str, timeout: float = 120) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(settings.kafka_config())
    deadline = time.monotonic() + timeout
    state = "?"
    while time.monotonic() < deadline:
        description = admin.describe_consumer_groups([group])[group].result(timeout=10)
        state = description.state.name
        if state == "STABLE" and description.members and description.members[0].assignment:
            time.sleep(2)  # its first fetch position is taken
            return
        time.sleep(2)
    raise AssertionError(f"the watcher's group {group} is {state} after {timeout}s")


def _settled_runs(dag_runner, before: set[str], timeout: float = 240) -> list[dict[str, Any]]:
    """The watcher Dag's new runs once none is queued or running (a burst may wake it twice)."""
    deadline = time.monotonic() + timeout
    while True:
        runs = [r for r in _runs(dag_runner, WATCHER) if r["dag_run_id"] not in before]
        if all(r["state"] in ("success", "failed") for r in runs) or time.monotonic() > deadline:
            return runs
        time.sleep(3)


def _forget_topic(settings: Settings, topic: str) -> None:
    """The topic, and the offsets and ledger rows Postgres keeps for it, gone."""
    delete_topics(settings.kafka_config(), [topic])
    query(settings.pg_dsn, FORGET_TOPIC_SQL, {"topic": topic})


@pytest.mark.parametrize("conn_id", CONNECTIONS)
def test_connection_test_passes_from_the_cli(conn_id: str) -> None:
    airflow = Path(sys.executable).with_name("airflow")
    proc = subprocess.run(
        [str(REPO / "scripts" / "env.sh"), str(airflow), "connections", "test", conn_id],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "Connection success!" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]


@pytest.mark.parametrize("conn_id", CONNECTIONS)
def test_connection_test_passes_over_rest_as_the_ui_test_button(dag_runner, conn_id: str) -> None:
    conn = dag_runner.api.request("GET", f"/api/v2/connections/{conn_id}")
    assert conn["password"] in (None, "***")  # the API never shows a secret
    assert '"sasl.password": "***"' in (conn["extra"] or "") or "sasl" not in (conn["extra"] or "")
    result = dag_runner.api.request("POST", "/api/v2/connections/test", conn)
    assert result["status"] is True, result


@pytest.fixture
def digits_topic(settings: Settings) -> Iterator[str]:
    """A topic named by digits only, like ``2024``, which native templating turned into an int.
    Unique per test run: risk_decisions keeps each Kafka position once, and a topic deleted and
    made again starts its offsets from 0."""
    topic = f"2024{uuid.uuid4().int % 10**8:08d}"
    yield topic
    _forget_topic(settings, topic)


def test_a_run_on_a_topic_of_digits_emits_asset_events_and_the_band_report_follows(
    dag_runner, settings: Settings, shared_csv: Path, digits_topic: str
) -> None:
    _set_paused(dag_runner, REPORT, False)
    try:
        run_id = dag_runner.trigger(
            PIPELINE,
            {"csv_path": str(shared_csv), "rate": 2000, "max_events": 300, "topic": digits_topic},
        )
        state = dag_runner.wait(PIPELINE, run_id)
        assert state == "success", dag_runner.task_states(PIPELINE, run_id)
        params = dag_runner.xcom(PIPELINE, run_id, "run_params")
        assert params["topic"] == digits_topic and params["partitions"] == 3
        topic_xcom = dag_runner.xcom(PIPELINE, run_id, "create_topic")
        assert topic_xcom == [0, 1, 2]
        ((scored, decisions),) = query(
            settings.pg_dsn,
            "SELECT (SELECT count(*) FROM risk_scored WHERE run_id = %s),"
            " (SELECT count(*) FROM risk_decisions WHERE run_id = %s)",
            (run_id, run_id),
        )
        ((dead,),) = query(
            settings.pg_dsn, "SELECT count(*) FROM dead_letters WHERE run_id = %s", (run_id,)
        )
        assert scored + dead == 300 and decisions == scored

        events = dag_runner.api.request(
            "GET", "/api/v2/assets/events",
            query={"source_dag_id": PIPELINE, "source_run_id": run_id, "limit": "50"},
        )["asset_events"]  # fmt: skip
        by_uri = {event["uri"]: event["extra"] for event in events}
        assert set(by_uri) == {kafka_topic_uri(digits_topic), RISK_SCORED.uri, RISK_DECISIONS.uri}
        assert by_uri[kafka_topic_uri(digits_topic)]["delivered"] == 300
        for uri in (RISK_SCORED.uri, RISK_DECISIONS.uri):
            extra = by_uri[uri]
            assert extra["run_id"] == run_id and extra["scored"] == scored
            assert extra["dead_lettered"] == dead and extra["missing"] == 0

        # the example Dag scheduled on risk_scored runs after it and reports this run
        deadline = time.monotonic() + 180
        report: list[tuple] = []
        while time.monotonic() < deadline and not report:
            report = query(  # band_reports: migration 0003, made by make up
                settings.pg_dsn, "SELECT scored, bands FROM band_reports WHERE run_id = %s", (run_id,)
            )
            time.sleep(3)
        assert report, f"{REPORT} did not report run {run_id}: {_runs(dag_runner, REPORT)[:3]}"
        ((reported, bands),) = report
        assert reported == scored and sum(bands.values()) == scored
        (report_run,) = [
            r for r in _runs(dag_runner, REPORT) if r["run_type"] == "asset_triggered"
        ][:1]
        assert dag_runner.wait(REPORT, report_run["dag_run_id"], timeout=120) == "success"
    finally:
        _set_paused(dag_runner, REPORT, True)


def test_an_external_producers_events_are_scored_by_the_watcher_dag_exactly_once(
    dag_runner, settings: Settings, shared_csv: Path
) -> None:
    """`loanstream produce` (no Dag run) writes to the watched topic; the AssetWatcher wakes
    loan_stream_watcher, whose run scores them: each exactly once."""
    from confluent_kafka.admin import AdminClient

    external_run = unique_name("external")
    count = 45
    dag_runner.wait_for_dag(WATCHER)
    before = {r["dag_run_id"] for r in _runs(dag_runner, WATCHER)}
    # the watched topic must exist (a fresh stack has it once a pipeline run or
    # `loanstream topic create` made it); until then the watcher's trigger fails and retries
    ensure_topic(settings.kafka_config(), settings.topic, partitions=settings.partitions)
    _set_paused(dag_runner, WATCHER, False)
    try:
        # the Dag processor registers the watcher's trigger, the triggerer starts it, and its
        # consumer joins its group: from then on (offset reset "latest") every event is seen
        _wait_for_stable_group(settings, settings.watch_group)
        cli = [
            str(REPO / "scripts" / "env.sh"), sys.executable, "-m", "loanstream.cli", "produce",
            "--csv", str(shared_csv), "--topic", settings.topic, "--max", str(count),
            "--skip", "1200", "--run-id", external_run,
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(REPO / "plugins")}
        proc = subprocess.run(cli, capture_output=True, text=True, timeout=120, env=env)
        assert proc.returncode == 0, proc.stderr[-2000:]

        deadline = time.monotonic() + 240
        stored = 0
        while time.monotonic() < deadline:
            ((stored,),) = query(
                settings.pg_dsn,
                "SELECT (SELECT count(*) FROM risk_scored WHERE run_id = %s)"
                " + (SELECT count(*) FROM dead_letters WHERE run_id = %s)",
                (external_run, external_run),
            )
            if stored >= count:
                break
            time.sleep(3)
        assert stored == count, (
            f"{stored} of {count} stored; watcher runs: {_runs(dag_runner, WATCHER)}"
        )
        runs = _settled_runs(dag_runner, before)
        assert runs and {r["run_type"] for r in runs} == {"asset_triggered"}
        assert {r["state"] for r in runs} == {"success"}, runs
        # nothing doubled: one decision per scored event, one row per loan id
        ((decisions, distinct_positions),) = query(
            settings.pg_dsn,
            "SELECT count(*), count(DISTINCT (src_topic, src_partition, src_offset)) FROM risk_decisions"
            " WHERE run_id = %s",
            (external_run,),
        )
        ((scored, distinct_ids),) = query(
            settings.pg_dsn,
            "SELECT count(*), count(DISTINCT loan_id) FROM risk_scored WHERE run_id = %s",
            (external_run,),
        )
        assert decisions == distinct_positions == scored == distinct_ids
        # the watcher polled with its own consumer group, never the sink's
        admin = AdminClient(settings.kafka_config())
        watch_group = admin.describe_consumer_groups([settings.watch_group])[settings.watch_group]
        assert watch_group.result(timeout=10).state.name in (
            "STABLE",
            "EMPTY",
            "PREPARING_REBALANCING",
            "COMPLETING_REBALANCING",
        )
        assert settings.watch_group != settings.consumer_group
    finally:
        _set_paused(dag_runner, WATCHER, True)
        for run in _runs(dag_runner, WATCHER):  # a paused Dag would never run them
            if run["dag_run_id"] not in before and run["state"] == "queued":
                dag_runner.api.request(
                    "DELETE", f"/api/v2/dags/{WATCHER}/dagRuns/{run['dag_run_id']}"
                )


def test_a_scheduled_replay_sends_the_slice_of_its_data_interval(
    dag_runner, settings: Settings
) -> None:
    """The replay run of 05:00 sends the sample's sixth twenty-fourth, all of it scored."""
    from datetime import UTC, datetime, timedelta

    from loanstream.runs.params import count_data_rows, replay_slice

    replay = "loan_sample_replay"
    # past (a future logical date waits for it), after the Dag's start_date (earlier runs have
    # no tasks), unique (one run per logical date): a random day of 2026 at 05:mm:ss.ffffff
    rand = uuid.uuid4().int
    when = datetime(2026, 1, 1, 5, tzinfo=UTC) + timedelta(
        days=rand % 300, minutes=rand % 60, microseconds=rand % 10**6
    )
    dag_runner.wait_for_dag(replay)
    _set_paused(dag_runner, replay, False)
    try:
        run = dag_runner.api.request(
            "POST", f"/api/v2/dags/{replay}/dagRuns",
            {"logical_date": when.isoformat(), "conf": {"rate": 1000},
             "dag_run_id": unique_name("replay")},
        )  # fmt: skip
        run_id = run["dag_run_id"]
        state = dag_runner.wait(replay, run_id, timeout=300)
        assert state == "success", dag_runner.task_states(replay, run_id)
    finally:
        _set_paused(dag_runner, replay, True)
        if dag_runner.run(replay, run_id)["state"] not in ("success", "failed"):
            # a paused Dag's unfinished run would block the next one (max_active_runs=1)
            path = f"/api/v2/dags/{replay}/dagRuns/{run_id}"
            dag_runner.api.request("PATCH", path, {"state": "failed"})
    expected = replay_slice(when, "@hourly", count_data_rows(settings.sample_csv))
    params = dag_runner.xcom(replay, run_id, "run_params")
    assert (params["skip"], params["max_events"]) == (expected.skip, expected.size)
    assert (expected.slots, expected.index) == (24, 5) and expected.skip == 5 * expected.size
    log = dag_runner.log(replay, run_id, "run_params")
    assert f"replaying rows {expected.skip + 1}-{expected.skip + expected.size}" in log
    ((stored,),) = query(
        settings.pg_dsn,
        "SELECT (SELECT count(*) FROM risk_scored WHERE run_id = %s)"
        " + (SELECT count(*) FROM dead_letters WHERE run_id = %s)",
        (run_id, run_id),
    )
    assert stored == expected.size
