"""Through the running scheduler: trigger with params over the REST API, check logs vs Postgres."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from loanstream.config import Settings
from loanstream.contract import fields
from tests.helpers import (
    Resources,
    landed_csv,
    query,
    read_events,
    read_topic,
    stock_reader,
    unique_name,
    write_loans_csv,
)

pytestmark = pytest.mark.e2e

DAG_ID = "loan_stream_pipeline"


@pytest.fixture(scope="module")
def settings() -> Settings:
    from devstack.envfile import load

    load()
    return Settings.from_env()


@pytest.fixture
def landed() -> Iterator[contextlib.ExitStack]:
    """Files put in the landing directory by a test, removed after it."""
    with contextlib.ExitStack() as stack:
        yield stack


def test_triggered_run_succeeds_and_summary_log_matches_postgres(
    dag_runner, settings: Settings, shared_csv: Path
) -> None:
    """A run triggered with params: every task succeeds, the summary's counts are Postgres's,
    and what leaves the system reads with confluent-kafka's stock deserializer alone: the
    typed events (no outcome column), and the scores republished to the scored topic."""
    with Resources(settings) as resources:  # the run's topic and its subject, deleted after
        _run_and_read_back(
            dag_runner, settings, shared_csv, resources.adopt_topic(unique_name("e2e"))
        )


def _run_and_read_back(dag_runner, settings: Settings, shared_csv: Path, topic: str) -> None:
    run_id = dag_runner.trigger(
        DAG_ID,
        {
            "csv_path": str(shared_csv),
            "rate": 2000,
            "max_events": 600,
            "topic": topic,
            "republish": True,
        },
    )
    state = dag_runner.wait(DAG_ID, run_id)
    states = dag_runner.task_states(DAG_ID, run_id)
    assert state == "success", states
    assert set(states) >= {"create_topic", "validate_csv", "produce_events", "wait_for_events",
                           "score_events[0]", "score_events[1]", "score_events[2]", "summarize"}  # fmt: skip
    log = dag_runner.log(DAG_ID, run_id, "summarize")
    match = re.search(r"produced (\d+), scored (\d+), dead-lettered (\d+), missing (\d+)", log)
    assert match, log[-3000:]
    produced, scored, dead, missing = map(int, match.groups())
    ((db_scored,),) = query(
        settings.pg_dsn, "SELECT count(*) FROM risk_scored WHERE run_id = %s", (run_id,)
    )
    ((db_dead,),) = query(
        settings.pg_dsn, "SELECT count(*) FROM dead_letters WHERE run_id = %s", (run_id,)
    )
    assert (produced, missing) == (600, 0)
    assert (scored, dead) == (db_scored, db_dead)
    assert db_scored + db_dead == 600
    summary = dag_runner.xcom(DAG_ID, run_id, "summarize")
    assert summary["produced"] == 600 and summary["missing"] == 0
    assert "created via the Kafka Admin API" in dag_runner.log(DAG_ID, run_id, "create_topic")
    assert "opening the consumers" in dag_runner.log(DAG_ID, run_id, "wait_for_events")
    assert summary["dropped_columns"]["loan_status"] == 600  # outcomes never leave the file
    assert summary["value_schema"]["subject"] == f"{topic}-value"
    produce_log = dag_runner.log(DAG_ID, run_id, "produce_events")
    assert "columns outside the loan_application v1 contract" in produce_log, produce_log[-3000:]
    events = [event for _, event in read_events(settings, topic)]
    assert len(events) == 600
    assert all(list(event) == [*fields.FIELD_NAMES, "event_time"] for event in events)
    assert all(isinstance(event["int_rate"], float) for event in events)
    read_score = stock_reader(settings, settings.scored_topic)
    republished = [
        read_score(m.value())
        for m in read_topic(settings, settings.scored_topic)
        if dict(m.headers() or [])["src_topic"] == topic.encode()
    ]
    assert len(republished) == 600
    assert {score["loan_id"] for score in republished} == {event["id"] for event in events}
    assert all(isinstance(score["risk_score"], int) for score in republished)


def test_bad_csv_fails_validation_produces_nothing_and_the_log_explains(
    dag_runner, settings: Settings, shared_csv: Path, landed: contextlib.ExitStack
) -> None:
    bad = landed.enter_context(landed_csv(settings=settings, prefix="negative_amounts"))
    write_loans_csv(bad, shared_csv, 50)
    lines = bad.read_text().splitlines()
    header = lines[0].split(",")
    amount = header.index("loan_amnt")
    fields = lines[7].split(",")
    fields[amount] = "-5000"
    lines[7] = ",".join(fields)  # data row 7
    bad.write_text("\n".join(lines) + "\n")
    topic = unique_name("e2ebad")
    run_id = dag_runner.trigger(DAG_ID, {"csv_path": str(bad), "rate": 0, "topic": topic})
    assert dag_runner.wait(DAG_ID, run_id, timeout=300) == "failed"
    states = dag_runner.task_states(DAG_ID, run_id)
    assert states["validate_csv"] == "failed"
    for task in ("create_topic", "produce_events", "wait_for_events", "summarize"):
        assert states[task] in ("upstream_failed", "None", "none"), states
    # validation runs first: a rejected file leaves nothing behind, not even the topic
    from confluent_kafka.admin import AdminClient

    from loanstream.kafka.topics import topic_partitions

    assert topic_partitions(AdminClient(settings.kafka_config()), topic) is None
    log = dag_runner.log(DAG_ID, run_id, "validate_csv")
    assert "loan_amnt" in log and "row 7" in log, log[-3000:]
    assert "validation.html" in log
    assert "Nothing was produced" in log


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"rate": -1}, "param rate: -1 is less than the minimum of 0"),
        ({"rate": 60000}, "param rate: 60000 is greater than the maximum of 50000"),
        ({"topic": "bad topic!"}, "param topic: 'bad topic!' does not match"),
        ({"partitions": "x"}, "param partitions: 'x' is not of type 'integer'"),
        ({"max_events": 0}, "param max_events: 0 is less than the minimum of 1"),
    ],
)
def test_bad_params_are_refused_before_any_work(airflow_api, conf: dict, message: str) -> None:
    from airflow_api import ApiError

    before = airflow_api.request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns", query={"limit": 1})
    with pytest.raises(ApiError) as refused:
        airflow_api.request(
            "POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": conf}
        )
    assert refused.value.status == 400
    assert message in str(refused.value)
    after = airflow_api.request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns", query={"limit": 1})
    assert after["total_entries"] == before["total_entries"]  # no run was created
