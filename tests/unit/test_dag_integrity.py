"""DAG folder integrity: imports, no cycles, owners, tags, docs, params."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

DAGS = Path(__file__).resolve().parents[2] / "dags"
PIPELINE_TASKS = [
    "run_params",
    "create_topic",
    "validate_csv",
    "produce_events",
    "wait_for_events",
    "score_events",
    "summarize",
]


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {
        "loan_stream_pipeline",
        "loan_sample_replay",
        "loan_band_report",
        "loan_stream_watcher",
        "dead_letter_redrive",
    }


def test_dead_letter_redrive_has_the_cli_filters_as_params(dagbag) -> None:
    dag = dagbag.dags["dead_letter_redrive"]
    assert dag.task_ids == ["redrive"] and dag.schedule is None
    params = dag.params.dump()
    assert params == {"run_id": "", "reason": "", "limit": 10_000}
    task = dag.get_task("redrive")
    assert (task.run_id_filter, task.reason, task.limit) == (
        "{{ params.run_id }}", "{{ params.reason }}", "{{ params.limit }}")  # fmt: skip


@pytest.mark.parametrize(
    "dag_id",
    [
        "loan_stream_pipeline",
        "loan_sample_replay",
        "loan_band_report",
        "loan_stream_watcher",
        "dead_letter_redrive",
    ],
)
def test_owner_tags_docs(dagbag, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    assert dag.tags and "loanstream" in dag.tags
    assert dag.doc_md and len(dag.doc_md) > 100
    assert dag.catchup is False and dag.max_active_runs == 1
    for task in dag.tasks:
        assert task.owner == "loanstream", task.task_id
        assert task.doc_md, f"{dag_id}.{task.task_id} has no doc_md"


@pytest.mark.parametrize("dag_id", ["loan_stream_pipeline", "loan_sample_replay"])
def test_producer_and_consumers_run_side_by_side(dagbag, dag_id: str) -> None:
    """params -> validate -> topic -> (produce || wait -> score) -> summarize: the consumers
    do not wait for the producer to finish, and a rejected file leaves no topic behind. Every
    task takes its parameters from run_params (typed XComArgs, no Jinja)."""
    dag = dagbag.dags[dag_id]
    assert set(dag.task_ids) == set(PIPELINE_TASKS)
    upstream = {task_id: dag.get_task(task_id).upstream_task_ids for task_id in PIPELINE_TASKS}
    assert upstream == {
        "run_params": set(),
        "validate_csv": {"run_params"},
        "create_topic": {"validate_csv", "run_params"},
        # validate_csv: the validated file's sha256 and size (a changed file is refused)
        "produce_events": {"create_topic", "run_params", "validate_csv"},
        "wait_for_events": {"create_topic", "run_params"},
        # create_topic: the partitions to map over
        "score_events": {"wait_for_events", "create_topic", "run_params"},
        "summarize": {"produce_events", "score_events"},
    }
    assert not dag.render_template_as_native_obj  # values arrive typed, not literal_eval'd
    assert "produce_events" not in dag.get_task("score_events").get_flat_relative_ids(
        upstream=True
    )
    assert dag.get_task("summarize").trigger_rule == "none_failed"


def test_main_dag_params_form(dagbag) -> None:
    dag = dagbag.dags["loan_stream_pipeline"]
    params = dag.params
    assert set(params.keys()) == {
        "csv_path",
        "rate",
        "max_events",
        "topic",
        "partitions",
        "republish",
    }
    for name in params.keys():
        param = params.get_param(name)
        assert param.schema.get("type"), name
        assert param.schema.get("title") and param.description, name
    assert params["topic"] == "loan_applications"
    assert params["partitions"] == 3
    assert params["csv_path"].endswith("include/data/loan_applications_sample.csv")
    csv_path = params.get_param("csv_path")
    assert "LOANSTREAM_DATA_DIRS" in csv_path.description
    assert "data/landing" in csv_path.description
    assert params["csv_path"] in csv_path.schema["examples"]


def test_params_are_checked_before_any_work(dagbag) -> None:
    from airflow.sdk.definitions.param import ParamsDict
    from airflow.sdk.exceptions import ParamValidationError

    dag = dagbag.dags["loan_stream_pipeline"]
    for bad in ({"rate": -1}, {"rate": 60000}, {"partitions": 0}, {"topic": "bad topic!"}):
        with pytest.raises(ParamValidationError, match="Invalid input for param"):
            params = ParamsDict(dag.params)
            params.update(bad)
            params.validate()


def test_retries_for_transient_errors_none_for_bad_input(dagbag) -> None:
    dag = dagbag.dags["loan_stream_pipeline"]
    assert dag.get_task("validate_csv").retries == 0
    assert dag.get_task("summarize").retries == 0
    assert dag.get_task("produce_events").retries >= 1
    assert dag.get_task("score_events").retries >= 1
    assert dag.get_task("produce_events").retry_exponential_backoff


def test_sensor_is_deferrable(dagbag) -> None:
    from loanstream.airflow.sensors import EventsWaitingSensor

    sensor = dagbag.dags["loan_stream_pipeline"].get_task("wait_for_events")
    assert isinstance(sensor, EventsWaitingSensor)
    assert sensor.timeout == 600


def test_replay_schedule(dagbag) -> None:
    dag = dagbag.dags["loan_sample_replay"]
    assert dag.timetable.expression in ("@hourly", "0 * * * *")
    assert dag.params["rate"] <= 1000
    assert dag.params["slice_size"] is None and dag.params["skip"] is None  # from the interval


def test_assets_and_lineage(dagbag) -> None:
    """produce_events declares the topic (an alias: the form picks it), summarize the two
    tables; the example Dag is scheduled on risk_scored; the watcher Dag on the topic."""
    from airflow.sdk import AssetAlias

    from loanstream.airflow.assets import RISK_DECISIONS, RISK_SCORED, kafka_topic_uri

    dag = dagbag.dags["loan_stream_pipeline"]
    (alias,) = dag.get_task("produce_events").outlets
    assert isinstance(alias, AssetAlias)
    summarize_outlets = {asset.uri for asset in dag.get_task("summarize").outlets}
    assert summarize_outlets == {RISK_SCORED.uri, RISK_DECISIONS.uri}
    assert RISK_SCORED.uri.startswith("postgres://") and RISK_SCORED.uri.endswith(
        "/loanstream/public/risk_scored"
    )
    report = dagbag.dags["loan_band_report"]
    assert [a.uri for a in report.timetable.asset_condition.objects] == [
        RISK_SCORED.uri
    ]
    watcher = dagbag.dags["loan_stream_watcher"]
    (topic_asset,) = watcher.timetable.asset_condition.objects
    assert topic_asset.uri == kafka_topic_uri("loan_applications")
    (watch,) = topic_asset.watchers
    kwargs = watch.trigger.kwargs
    assert kwargs["kafka_config_id"] == "loanstream_kafka_watcher"  # not the sink's group
    assert kwargs["apply_function"] == "loanstream.airflow.watcher.unscored_event"
    assert watcher.is_paused_upon_creation
