"""``ProduceEventsOperator``: stream a CSV to Kafka at a target rate, recorded in the run ledger."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from loanstream.airflow.assets import TOPIC_ALIAS, kafka_topic_asset
from loanstream.airflow.hooks import (
    KAFKA_PRODUCER_CONN_ID,
    POSTGRES_CONN_ID,
    kafka_config,
)
from loanstream.airflow.memory import LogsPeakMemory
from loanstream.airflow.operators.common import open_csv_or_fail, run_ledger
from loanstream.config import Settings

if TYPE_CHECKING:
    from loanstream.paths import CsvFile


class ProduceEventsOperator(LogsPeakMemory, BaseOperator):
    """Stream the CSV to Kafka as typed events at ``rate`` events/s (0 = unthrottled); stats to XCom.

    Runs beside the consumer tasks: it records the run in the run ledger (heartbeat, offsets,
    final state) so they know when the run is over, and at a paced rate, after its first event,
    waits (up to ``LOANSTREAM_WAIT_FOR_CONSUMERS_SECONDS``) until a consumer is live on every
    partition. At ``rate`` 0 (a bulk load) it sends at once. The events' value schema is
    registered first in the schema registry at ``LOANSTREAM_SCHEMA_REGISTRY_URL``.

    The CSV is opened once; before anything is produced its SHA-256 and size, computed over
    that descriptor, must be the ones ``validate_csv`` recorded (``validated``), and the events
    are read from the same descriptor.

    :param csv_path: the CSV to stream.
    :param validated: ``validate_csv``'s XCom (its ``sha256`` and ``size``); None: not checked
        (logged as a warning).
    :param topic: the events topic.
    :param rate: events per second (0 = as fast as the machine allows).
    :param max_events: stop after this many events (None: the whole file).
    :param skip: skip this many data rows first.
    :param kafka_conn_id: Airflow connection of the Kafka cluster (the producer's).
    :param postgres_conn_id: Airflow connection of the loanstream database (run ledger).
    """

    template_fields: Sequence[str] = (
        "csv_path", "topic", "rate", "max_events", "skip", "validated",
    )  # fmt: skip

    def __init__(
        self,
        *,
        csv_path: str,
        topic: str,
        rate: float = 0,
        max_events: int | None = None,
        skip: int = 0,
        validated: dict[str, Any] | None = None,
        kafka_conn_id: str = KAFKA_PRODUCER_CONN_ID,
        postgres_conn_id: str = POSTGRES_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.csv_path = csv_path
        self.topic = topic
        self.rate = rate
        self.max_events = max_events
        self.skip = skip
        self.validated = validated
        self.kafka_conn_id = kafka_conn_id
        self.postgres_conn_id = postgres_conn_id
        self._producer: Any = None

    def execute(self, context: Context) -> dict[str, Any]:
        with open_csv_or_fail(self.csv_path) as csv_file:
            self._check_validated(csv_file)
            return self._produce(context, csv_file)

    def _check_validated(self, csv_file: CsvFile) -> None:
        """Refuse a file whose bytes are not the ones ``validate_csv`` passed."""
        from loanstream.paths import Digest, FileChanged

        if self.validated is None:
            self.log.warning("no validation digest given: %s is produced unchecked", csv_file)
            return
        try:
            expected = Digest(str(self.validated["sha256"]), int(self.validated["size"]))
        except (KeyError, TypeError, ValueError):
            raise AirflowFailException(
                "validate_csv's result carries no file digest (sha256, size): clear "
                "validate_csv too. Nothing was produced."
            ) from None
        started = time.perf_counter()
        try:
            csv_file.check_digest(expected)
        except FileChanged as exc:
            raise AirflowFailException(str(exc)) from None
        self.log.info(
            "%s is the file validated: %d bytes, SHA-256 %s (hashed in %.2fs)",
            csv_file.name, expected.size, expected.sha256, time.perf_counter() - started,
        )  # fmt: skip

    def _produce(self, context: Context, csv_file: CsvFile) -> dict[str, Any]:
        from loanstream.paths import FileChanged
        from loanstream.produce.events import EventSourceError
        from loanstream.produce.producer import EventProducer

        settings = Settings.from_env()
        ti = context["ti"]
        will_retry = (ti.try_number or 1) <= (ti.max_tries or 0)
        ledger = run_ledger(self.postgres_conn_id, str(context.get("run_id")), self.topic)
        ledger.check_schema(settings.migrations_dir)  # `loanstream schema migrate` applies it
        self._producer = EventProducer(
            kafka_config(self.kafka_conn_id),
            self.topic,
            schema_registry_url=settings.schema_registry_url,
        )
        try:
            stats = self._producer.produce_csv(
                csv_file,
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
        try:
            csv_file.check_unchanged()
        except FileChanged as exc:
            raise AirflowFailException(
                f"{exc}: {stats.delivered} events were delivered from it. Fix the file and "
                "trigger a new run (re-sent loans are upserted by loan id)"
            ) from None
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
