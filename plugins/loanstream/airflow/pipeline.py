"""The pipeline's task wiring, shared by the on-demand DAG and the scheduled replay."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from loanstream.airflow.assets import RISK_DECISIONS, RISK_SCORED, TOPIC_ALIAS
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


def pipeline_tasks(params: Any, *, wait_timeout: float = 600) -> dict[str, Any]:
    """run_params >> validate_csv >> create_topic >> (produce_events || wait_for_events >>
    score_events, mapped per partition) >> summarize, inside the current DAG context.

    ``params`` is the head task's output (``loanstream.airflow.params``): each task takes its
    values as XComArgs, typed.

    The producer and the consumers run at the same time: the sensor opens as soon as the run's
    first event has landed, and each ``score_events`` task scores events as they arrive until
    the run ledger says the run's last event on its partition is stored.
    """
    settings = Settings.from_env()
    validate_csv = ValidateCsvOperator(
        task_id="validate_csv",
        csv_path=params["csv_path"],
        doc_md="Great Expectations suite for LendingClub files. Fails without retries; the log "
        "lists failed expectations with example rows and the HTML report path. Runs first, so "
        "a rejected file leaves nothing behind.",
    )
    create_topic = CreateTopicOperator(
        task_id="create_topic",
        topic=params["topic"],
        partitions=params["partitions"],
        retention_ms=settings.retention_ms,
        doc_md="Creates the topic (rpk if installed, else the Kafka Admin API; the log says "
        "which). An existing topic with another partition count fails the run.",
    )
    produce_events = ProduceEventsOperator(
        task_id="produce_events",
        csv_path=params["csv_path"],
        topic=params["topic"],
        rate=params["rate"],
        max_events=params["max_events"],
        skip=params["skip"],
        validated=validate_csv.output,  # its sha256 and size: a changed file is refused
        execution_timeout=timedelta(hours=2),
        outlets=[TOPIC_ALIAS],
        doc_md="Rate-controlled, idempotent producer: one keyed, typed `loan_application` "
        "event per row (docs/EVENTS.md), its schema registered as `<topic>-value` first, "
        "with lineage headers; columns outside the contract dropped and counted. Records the run in the run ledger (heartbeat, offsets, final state) "
        "for the consumers; after the first event it waits (bounded) for them to be live. "
        "Progress in the log; stats (delivered count) to XCom. Emits an asset event for the "
        "topic (kafka://server/topic, through the alias) with the run's counts.",
    )
    wait_for_events = EventsWaitingSensor(
        task_id="wait_for_events",
        topic=params["topic"],
        poke_interval=1,
        timeout=wait_timeout,
        retries=2,  # a broker hiccup on the first check; the timeout itself is not retried
        doc_md="Deferrable: runs beside produce_events and opens as soon as the run's first "
        "event has landed (run ledger; lag from the offsets stored in Postgres). Never "
        "consumes or commits. A run that delivered nothing skips the consumers at once.",
    )
    score_events = ScoreEventsOperator.partial(
        task_id="score_events",
        topic=params["topic"],
        republish=params["republish"],
        execution_timeout=timedelta(hours=2),
        doc_md="Exactly-once sink for one partition, streaming: scores events as they arrive "
        "and ends when the run's last event on the partition is stored. Scored rows, dead "
        "letters and offsets commit together in Postgres. Safe to clear and re-run.",
    ).expand(partition=create_topic.output)
    summarize = SummarizeRunOperator(
        task_id="summarize",
        produced=produce_events.output,
        consumed=score_events.output,
        retries=0,
        trigger_rule="none_failed",  # a run that delivered nothing skipped the consumers
        outlets=[RISK_SCORED, RISK_DECISIONS],
        doc_md="Produced vs scored + dead-lettered for this run (from Postgres), per band, "
        "rates, latency, duration. Fails if any event is missing. A complete run emits asset "
        "events for risk_scored and risk_decisions with its counts (loan_band_report runs "
        "on them).",
    )
    validate_csv >> create_topic >> [produce_events, wait_for_events]
    wait_for_events >> score_events
    [produce_events, score_events] >> summarize
    return {
        "run_params": params,
        "create_topic": create_topic,
        "validate_csv": validate_csv,
        "produce_events": produce_events,
        "wait_for_events": wait_for_events,
        "score_events": score_events,
        "summarize": summarize,
    }
