"""Operators: each a few lines around one loanstream core function.

Bad input fails the task with ``AirflowFailException`` (no retry can fix it); transient trouble
(broker or database down) raises ordinary errors, so the task's retries apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from loanstream.airflow.assets import RISK_DECISIONS, RISK_SCORED, TOPIC_ALIAS, kafka_topic_asset
from loanstream.airflow.hooks import (
    KAFKA_CONN_ID,
    POSTGRES_CONN_ID,
    kafka_config,
    postgres_dsn,
)
from loanstream.airflow.memory import LogsPeakMemory
from loanstream.config import Settings, redact_dsn


def _failed_check(item: dict[str, Any]) -> str:
    """``loan_amnt_positive on loan_amnt: 3 rows`` for one failed expectation."""
    column = f" on {item['column']}" if item.get("column") else ""
    return f"{item.get('check') or item.get('expectation')}{column}: {item.get('unexpected_count')} rows"


def _data_file(csv_path: str) -> Path:
    """The resolved ``csv_path`` if it is a CSV in the data directories; else the task fails."""
    from loanstream.paths import PathNotAllowed, data_file

    try:
        return data_file(csv_path)
    except PathNotAllowed as exc:
        raise AirflowFailException(f"{exc}. Nothing was read.") from None


class CreateTopicOperator(LogsPeakMemory, BaseOperator):
    """Create the events topic with ``rpk`` where installed, else the Kafka Admin API.

    An existing topic with the asked partition count passes; another count fails clearly.
    Returns the partition ids (what the consumer tasks map over); XCom ``topic`` has the details.
    """

    template_fields: Sequence[str] = ("topic", "partitions", "retention_ms")

    def __init__(
        self,
        *,
        topic: str,
        partitions: int = 3,
        retention_ms: int = 7 * 24 * 3600 * 1000,
        replication: int | None = None,  # None: min(3, brokers) (loanstream.topics)
        kafka_conn_id: str = KAFKA_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.topic = topic
        self.partitions = partitions
        self.retention_ms = retention_ms
        self.replication = replication
        self.kafka_conn_id = kafka_conn_id

    def execute(self, context: Context) -> list[int]:
        from loanstream.topics import TopicError, ensure_topic

        try:
            result = ensure_topic(
                kafka_config(self.kafka_conn_id),
                self.topic,
                partitions=self.partitions,
                replication=self.replication,
                retention_ms=self.retention_ms,
            )
        except TopicError as exc:
            if "exists with" in str(exc):
                raise AirflowFailException(str(exc)) from None
            raise
        self.log.info(
            "topic '%s': %s via %s (%d partitions, %s)",
            result.topic,
            "created" if result.created else "already present",
            "rpk" if result.method == "rpk" else "the Kafka Admin API (rpk not installed)",
            result.partitions,
            result.describe(),
        )
        context["ti"].xcom_push(key="topic", value=result.to_dict())
        return list(range(result.partitions))


class ValidateCsvOperator(LogsPeakMemory, BaseOperator):
    """Validate a loan CSV with Great Expectations; failure stops the run without retries."""

    template_fields: Sequence[str] = ("csv_path",)

    def __init__(self, *, csv_path: str, chunk_rows: int = 200_000, **kwargs: Any) -> None:
        kwargs.setdefault("retries", 0)
        super().__init__(**kwargs)
        self.csv_path = csv_path
        self.chunk_rows = chunk_rows

    def execute(self, context: Context) -> dict[str, Any]:
        from loanstream.validation import CsvReadError, validate_csv

        run_id = str(context.get("run_id") or "manual")
        csv_path = _data_file(self.csv_path)
        try:
            result = validate_csv(
                csv_path,
                chunk_rows=self.chunk_rows,
                report_dir=Settings.from_env().reports_dir,
                run_id=run_id.replace(":", "_").replace("+", "_"),
            )
        except CsvReadError as exc:
            raise AirflowFailException(
                f"cannot read {self.csv_path}: {exc}. Nothing was produced. Fix the file (or the "
                "csv_path param) and trigger a new run."
            ) from None
        for line in result.summary_lines():
            (self.log.info if result.success else self.log.error)("%s", line)
        if not result.success:
            raise AirflowFailException(
                f"validation of {self.csv_path} failed: {len(result.failed)} critical "
                f"expectation(s) ({', '.join(_failed_check(f) for f in result.failed)}); "
                f"report: {result.report}. Nothing was produced."
            )
        return result.to_dict()


def _run_ledger(postgres_conn_id: str, run_id: str, topic: str) -> Any:
    """The run's ledger in the loanstream database (``loanstream.ledger``)."""
    from loanstream.clients import pg_connect
    from loanstream.ledger import RunLedger

    dsn = postgres_dsn(postgres_conn_id)
    return RunLedger(lambda: pg_connect(dsn, "loanstream-ledger"), run_id, topic)


class ProduceEventsOperator(LogsPeakMemory, BaseOperator):
    """Stream the CSV to Kafka at ``rate`` events/s (0 = unthrottled); stats to XCom.

    Runs beside the consumer tasks: it records the run in the run ledger (heartbeat, offsets,
    final state) so they know when the run is over, and at a paced rate, after its first event,
    waits (up to ``LOANSTREAM_WAIT_FOR_CONSUMERS_SECONDS``) until a consumer is live on every
    partition. At ``rate`` 0 (a bulk load) it sends at once.

    :param csv_path: the CSV to stream.
    :param topic: the events topic.
    :param rate: events per second (0 = as fast as the machine allows).
    :param max_events: stop after this many events (None: the whole file).
    :param skip: skip this many data rows first.
    :param kafka_conn_id: Airflow connection of the Kafka cluster.
    :param postgres_conn_id: Airflow connection of the loanstream database (run ledger).
    """

    template_fields: Sequence[str] = ("csv_path", "topic", "rate", "max_events", "skip")

    def __init__(
        self,
        *,
        csv_path: str,
        topic: str,
        rate: float = 0,
        max_events: int | None = None,
        skip: int = 0,
        kafka_conn_id: str = KAFKA_CONN_ID,
        postgres_conn_id: str = POSTGRES_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.csv_path = csv_path
        self.topic = topic
        self.rate = rate
        self.max_events = max_events
        self.skip = skip
        self.kafka_conn_id = kafka_conn_id
        self.postgres_conn_id = postgres_conn_id
        self._producer: Any = None

    def execute(self, context: Context) -> dict[str, Any]:
        from loanstream.events import EventSourceError
        from loanstream.producer import EventProducer

        csv_path = _data_file(self.csv_path)
        settings = Settings.from_env()
        ti = context["ti"]
        will_retry = (ti.try_number or 1) <= (ti.max_tries or 0)
        ledger = _run_ledger(self.postgres_conn_id, str(context.get("run_id")), self.topic)
        ledger.check_schema(settings.migrations_dir)  # `loanstream schema migrate` applies it
        self._producer = EventProducer(kafka_config(self.kafka_conn_id), self.topic)
        try:
            stats = self._producer.produce_csv(
                csv_path,
                rate=self.rate,
                max_events=self.max_events,
                skip=self.skip,
                run_id=str(context.get("run_id")),
                ledger=ledger,
                # a paced run waits for its consumers (no event waits for Airflow to start
                # them); an unthrottled one is a bulk load: it sends at once
                wait_for_consumers=settings.wait_for_consumers_seconds if self.rate else 0,
                error_state="retrying" if will_retry else "failed",
            )
        except EventSourceError as exc:
            ledger.set_state("failed", str(exc)[:500])  # no retry can fix the file
            raise AirflowFailException(f"{exc}. Nothing more was produced.") from None
        finally:
            ledger.close()
        self.log.info("%s", stats.human_line())
        context["outlet_events"][TOPIC_ALIAS].add(
            kafka_topic_asset(self.topic),
            extra={"run_id": str(context.get("run_id")), **stats.counts(),
                   "per_partition": stats.to_dict()["per_partition"]},
        )  # fmt: skip
        if stats.interrupted:
            raise AirflowFailException(
                f"stopped after {stats.sent} events (the task was killed or marked failed); "
                "the consumers store what was delivered. Clear this task and wait_for_events "
                "(with downstream) to send the file again beside new consumers: re-sent loans "
                "are upserted by loan id, nothing is doubled"
            )
        return stats.to_dict()

    def on_kill(self) -> None:
        if self._producer is not None:
            self._producer.stop()


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
    :param kafka_conn_id: Airflow connection of the Kafka cluster.
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
        kafka_conn_id: str = KAFKA_CONN_ID,
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
        from loanstream.sink import ScoringSink
        from loanstream.topics import ensure_topic

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
            ledger = _run_ledger(self.postgres_conn_id, str(context.get("run_id")), self.topic)
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


class SummarizeRunOperator(LogsPeakMemory, BaseOperator):
    """Produced vs scored + dead-lettered for this run, from Postgres; fails on any loss."""

    template_fields: Sequence[str] = ("produced", "consumed")

    def __init__(
        self,
        *,
        produced: Any,
        consumed: Any,
        postgres_conn_id: str = POSTGRES_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.produced = produced
        self.consumed = consumed
        self.postgres_conn_id = postgres_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from loanstream.summary import RunIncompleteError, summarize_run

        run_id = str(context.get("run_id"))
        consumed = list(self.consumed or [])
        try:
            summary = summarize_run(
                postgres_dsn(self.postgres_conn_id), run_id, self.produced, consumed
            )
        except RunIncompleteError as exc:
            self.log.error("summary: %s", exc.summary)
            raise AirflowFailException(str(exc)) from None
        self.log.info(
            "run %s: produced %d, scored %d, dead-lettered %d, missing %d; bands %s; "
            "decisions %s; produce %.0f eps, consume %.0f eps; latency event_time -> stored "
            "p50 %s ms, p99 %s ms",
            run_id,
            summary["produced"],
            summary["scored"],
            summary["dead_lettered"],
            summary["missing"],
            summary["bands"],
            summary["decisions"],
            summary["produce_eps"] or 0,
            summary["consume_eps"] or 0,
            summary["latency_ms"]["p50"],
            summary["latency_ms"]["p99"],
        )
        extra = {key: summary[key] for key in ("produced", "scored", "dead_lettered", "missing")}
        context["outlet_events"][RISK_SCORED].extra = {
            "run_id": run_id,
            **extra,
            "bands": summary["bands"],
        }
        context["outlet_events"][RISK_DECISIONS].extra = {
            "run_id": run_id,
            **extra,
            "decisions": summary["decisions"],
        }
        return summary
