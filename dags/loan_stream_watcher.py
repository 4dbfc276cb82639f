"""loan_stream_watcher: event-driven scoring of events another producer wrote to the topic."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger
from airflow.sdk import DAG, AssetWatcher

from loanstream.airflow.assets import kafka_topic_asset
from loanstream.airflow.operators import CreateTopicOperator, ScoreEventsOperator
from loanstream.airflow.pipeline import DEFAULT_ARGS
from loanstream.airflow.watcher import WATCHER_CONN_ID
from loanstream.config import Settings

settings = Settings.from_env()

DOC = f"""
### Event-driven scoring (AssetWatcher)

Scores events that **another producer** writes to `{settings.topic}` (`loanstream produce`,
another service), without anyone triggering a run. Unpause it to turn it on (the topic must exist:
a pipeline run or `loanstream topic create` makes it).

An `AssetWatcher` on the topic's asset (`{kafka_topic_asset(settings.topic).uri}`) runs
the common-messaging `MessageQueueTrigger` (Kafka) in the triggerer, with its own consumer
group (`{settings.watch_group}`, connection `{WATCHER_CONN_ID}`; never the sink's group). It
wakes this Dag on an event that is not yet stored and that no pipeline run will score
(`loanstream.runs.watch`). The watcher only wakes the Dag: `score_events` scores everything not yet
stored on each partition, up to the end offsets it finds, exactly once through the offsets in
Postgres, the same offsets `loan_stream_pipeline` uses. A burst wakes it a few times at most;
a run that finds nothing new ends at once.
"""

EVENTS_TOPIC = kafka_topic_asset(
    settings.topic,
    watchers=[
        AssetWatcher(
            name=f"{settings.topic}_watcher",
            trigger=MessageQueueTrigger(
                scheme="kafka",
                topics=[settings.topic],
                kafka_config_id=WATCHER_CONN_ID,
                apply_function="loanstream.airflow.watcher.unscored_event",
                poll_timeout=1,
                poll_interval=0,  # an event that needs no wake-up: the next one at once
                commit_offset=False,  # auto-commit, and close() commits: no commit per event
            ),
        )
    ],
)

with DAG(
    dag_id="loan_stream_watcher",
    description="Score events other producers write to the topic, woken by an AssetWatcher",
    doc_md=DOC,
    schedule=[EVENTS_TOPIC],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=True,
    default_args=DEFAULT_ARGS,
    tags=["loanstream", "kafka", "event-driven"],
) as dag:
    partitions = CreateTopicOperator(
        task_id="topic_partitions",
        topic=settings.topic,
        partitions=settings.partitions,
        retention_ms=settings.retention_ms,
        doc_md="The topic's partitions (created if missing), for one scorer each.",
    )
    ScoreEventsOperator.partial(
        task_id="score_events",
        topic=settings.topic,
        run_scoped=False,
        execution_timeout=timedelta(hours=2),
        doc_md="Scores what is not yet stored on one partition, up to the end offsets found at "
        "start, exactly once (offsets in Postgres). Ends once caught up.",
    ).expand(partition=partitions.output)
