"""``ScoreEventsOperator``: score a partition's events into Postgres exactly once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from loanstream.airflow.hooks import (
    KAFKA_SINK_CONN_ID,
    POSTGRES_CONN_ID,
    kafka_config,
    postgres_dsn,
)
from loanstream.airflow.memory import LogsPeakMemory
from loanstream.airflow.operators.common import run_ledger
from loanstream.config import Settings, redact_dsn


class ScoreEventsOperator(LogsPeakMemory, BaseOperator):
    """Score one partition's events of this run into Postgres exactly once, as they arrive.

    Mapped per partition; runs while ``produce_events`` sends and ends within about a second
    of the run's last event on its partition being stored (the run ledger says where that is).

    :param topic: the events topic.
    :param partition: the partition to consume (None: all).
    :param republish: also produce each scored event to ``LOANSTREAM_SCORED_TOPIC``.
    :param run_scoped: score this pipeline run's events, until the run ledger says its last
        one is stored (default); False: everything not yet stored, up to the end offsets at
        start (the watcher Dag).
    :param idle_timeout: once the run is over, seconds without an expected event before
        giving up on it (deleted by retention, say).
    :param kafka_conn_id: Airflow connection of the Kafka cluster (the sink's).
    :param postgres_conn_id: Airflow connection of the loanstream database.
    """

    template_fields: Sequence[str] = ("topic", "partition", "republish")

    def __init__(
        self,
        *,
        topic: str,
        partition: int | None = None,
        republish: bool = False,
        run_scoped: bool = True,
        idle_timeout: float = 30.0,
        kafka_conn_id: str = KAFKA_SINK_CONN_ID,
        postgres_conn_id: str = POSTGRES_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.topic = topic
        self.partition = partition
        self.republish = republish
        self.run_scoped = run_scoped
        self.idle_timeout = idle_timeout
        self.kafka_conn_id = kafka_conn_id
        self.postgres_conn_id = postgres_conn_id
        self._sink: Any = None

    def execute(self, context: Context) -> dict[str, Any]:
        from loanstream.kafka.topics import ensure_topic
        from loanstream.sink import ScoringSink

        settings = Settings.from_env()
        dsn = postgres_dsn(self.postgres_conn_id)
        config = kafka_config(self.kafka_conn_id)
        self.log.info("scoring into %s", redact_dsn(dsn))
        if self.republish:
            scored = ensure_topic(config, settings.scored_topic, partitions=settings.partitions)
            self.log.info("republishing scored events to '%s' (%s)", scored.topic, scored.method)
        self._sink = ScoringSink(
            config,
            dsn,
            self.topic,
            group=settings.consumer_group,
            republish_topic=settings.scored_topic if self.republish else None,
            migrations_dir=settings.migrations_dir,
            native=settings.native_scoring,
        )
        partitions = None if self.partition is None else [self.partition]
        ledger = None
        if self.run_scoped:
            ledger = run_ledger(self.postgres_conn_id, str(context.get("run_id")), self.topic)
        try:
            stats = self._sink.run(
                partitions,
                idle_timeout=self.idle_timeout,
                ledger=ledger,
                stale_after=settings.producer_stale_seconds,
            )
        finally:
            if ledger is not None:
                ledger.close()
        if stats.stopped_by in ("producer-gone", "no-producer", "run-failed", "run-stopped"):
            self.log.warning(
                "the run's producer did not finish (%s): stored the %d events that arrived on "
                "partitions %s. Clear produce_events and wait_for_events (with downstream) to "
                "complete the file: nothing is doubled", stats.stopped_by, stats.consumed, stats.partitions,
            )  # fmt: skip
        # where it ran (a Celery worker's own hostname: loanstream.airflow.workers)
        return {**stats.to_dict(), "hostname": getattr(context["ti"], "hostname", None)}

    def on_kill(self) -> None:
        if self._sink is not None:
            self._sink.stop()
