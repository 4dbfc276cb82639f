"""The pipeline's task wiring, shared by the on-demand DAG and the scheduled replay."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from loanstream.airflow.operators import (
    CreateTopicOperator,
    ProduceEventsOperator,
    ScoreEventsOperator,
    SummarizeRunOperator,
    ValidateCsvOperator,
)
from loanstream.airflow.sensors import EventsWaitingSensor
from loanstream.config import Settings

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "loanstream",
    "retries": 2,
    "retry_delay": timedelta(seconds=10),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=2),
}


def pipeline_tasks(
    *,
    csv_path: str,
    topic: str,
    partitions: str | int,
    rate: str | float,
    max_events: str | int | None,
    republish: str | bool,
    skip: str | int = 0,
    wait_timeout: float = 600,
) -> dict[str, Any]:
    """create_topic >> validate_csv >> produce_events >> wait_for_events >> score_events
    (mapped per partition) >> summarize, inside the current DAG context."""
    settings = Settings.from_env()
    create_topic = CreateTopicOperator(
        task_id="create_topic",
        topic=topic,
        partitions=partitions,
        retention_ms=settings.retention_ms,
        doc_md="Creates the topic (rpk if installed, else the Kafka Admin API; the log says "
        "which). An existing topic with another partition count fails the run.",
    )
    validate_csv = ValidateCsvOperator(
        task_id="validate_csv",
        csv_path=csv_path,
        doc_md="Great Expectations suite for LendingClub files. Fails without retries; the log "
        "lists failed expectations with example rows and the HTML report path.",
    )
    produce_events = ProduceEventsOperator(
        task_id="produce_events",
        csv_path=csv_path,
        topic=topic,
        rate=rate,
        max_events=max_events,
        skip=skip,
        execution_timeout=timedelta(hours=2),
        doc_md="Rate-controlled, idempotent producer: one keyed JSON event per row, with "
        "lineage headers. Progress in the log; stats (delivered count) to XCom.",
    )
    wait_for_events = EventsWaitingSensor(
        task_id="wait_for_events",
        topic=topic,
        poke_interval=5,
        timeout=wait_timeout,
        retries=2,  # a broker hiccup on the first check; the timeout itself is not retried
        doc_md="Deferrable: waits in the triggerer until the consumer group has lag > 0. "
        "Reads offsets only; never consumes or commits.",
    )
    score_events = ScoreEventsOperator.partial(
        task_id="score_events",
        topic=topic,
        republish=republish,
        execution_timeout=timedelta(hours=2),
        doc_md="Exactly-once sink for one partition: scored rows, dead letters and offsets "
        "commit together in Postgres. Safe to clear and re-run.",
    ).expand(partition=create_topic.output)
    summarize = SummarizeRunOperator(
        task_id="summarize",
        produced="{{ ti.xcom_pull(task_ids='produce_events') }}",
        consumed="{{ ti.xcom_pull(task_ids='score_events') }}",
        retries=0,
        doc_md="Produced vs scored + dead-lettered for this run (from Postgres), per band, "
        "rates, duration. Fails if any event is missing.",
    )
    create_topic >> validate_csv >> produce_events >> wait_for_events >> score_events >> summarize
    return {
        "create_topic": create_topic,
        "validate_csv": validate_csv,
        "produce_events": produce_events,
        "wait_for_events": wait_for_events,
        "score_events": score_events,
        "summarize": summarize,
    }
