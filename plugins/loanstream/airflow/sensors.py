"""``EventsWaitingSensor``: gate the consumers until the run's events land; never consumes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, Context
from airflow.sdk.exceptions import (
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
)

from loanstream.airflow.hooks import (
    KAFKA_SINK_CONN_ID,
    POSTGRES_CONN_ID,
    kafka_config,
    postgres_dsn,
)
from loanstream.airflow.memory import LogsPeakMemory
from loanstream.airflow.triggers import RunGateTrigger
from loanstream.config import Settings
from loanstream.runs.gate import Gate, check_gate
from loanstream.runs.lag import LagError


class EventsWaitingSensor(LogsPeakMemory, BaseSensorOperator):
    """Succeeds once the run's first event has landed (it runs beside ``produce_events``).

    Checks once in the worker; if the run's producer has started but nothing has landed yet,
    defers to ``RunGateTrigger`` so the wait holds no worker slot. While the producer has not
    started at all, it reschedules itself every ``poke_interval`` instead: a runner that runs
    one task at a time (``dag.test()``) then gets to run the producer. Reads the run ledger
    and the lag from the offsets stored in Postgres against the topic's end offsets: nothing
    is fetched or committed. A run whose producer ended without delivering anything skips the
    consumers at once, with the reason.

    :param topic: the events topic.
    :param group: consumer group (default ``LOANSTREAM_CONSUMER_GROUP``).
    :param kafka_conn_id: Airflow connection of the Kafka cluster (the sink's).
    :param postgres_conn_id: Airflow connection of the loanstream database.
    :param poke_interval: seconds between checks in the triggerer.
    :param timeout: seconds to wait for the run's first event.
    """

    template_fields: Sequence[str] = ("topic",)

    def __init__(
        self,
        *,
        topic: str,
        group: str | None = None,
        kafka_conn_id: str = KAFKA_SINK_CONN_ID,
        postgres_conn_id: str = POSTGRES_CONN_ID,
        poke_interval: float = 1.0,
        timeout: float = 600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, timeout=timeout, **kwargs)
        self.topic = topic
        self.group = group or Settings.from_env().consumer_group
        self.kafka_conn_id = kafka_conn_id
        self.postgres_conn_id = postgres_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        run_id = str(context.get("run_id"))
        try:
            gate = check_gate(
                kafka_config(self.kafka_conn_id),
                postgres_dsn(self.postgres_conn_id),
                self.topic,
                self.group,
                run_id,
            )
        except LagError as exc:
            self.log.warning("%s: deferring and retrying from the triggerer", exc)
            gate = Gate("wait", detail=str(exc))
        if gate.status != "wait":
            return self._opened(gate.to_dict())
        if gate.run_state is None and "ti" in context:
            self._reschedule_until_the_producer_starts(context, gate)
        self.log.info(
            "run %s: %s; deferring (check every %ss, timeout %ss)",
            run_id, gate.detail, self.poke_interval, self.timeout,
        )  # fmt: skip
        self.defer(
            trigger=RunGateTrigger(
                self.topic,
                self.group,
                run_id,
                self.kafka_conn_id,
                self.postgres_conn_id,
                float(self.poke_interval),
                float(self.timeout),
            ),  # fmt: skip
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout) + 60),
        )

    def _reschedule_until_the_producer_starts(self, context: Context, gate: Gate) -> None:
        """No ledger row yet: try again in ``poke_interval`` (no slot held meanwhile)."""
        now = datetime.now(UTC)
        first = context["ti"].get_first_reschedule_date(context) or now
        if (now - first).total_seconds() > float(self.timeout):
            self.execute_complete(context, {"status": "timeout", "timeout": self.timeout})
        self.log.info("run %s: %s; checking again in %ss", context.get("run_id"), gate.detail,
                      self.poke_interval)  # fmt: skip
        raise AirflowRescheduleException(now + timedelta(seconds=float(self.poke_interval)))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        if event.get("status") in ("open", "empty"):
            return self._opened(event)
        detail = f" (last error: {event['last_error']})" if event.get("last_error") else ""
        raise AirflowSensorTimeout(
            f"no event of this run landed on topic '{self.topic}' within "
            f"{event.get('timeout')}s{detail}. Did produce_events start and deliver anything? "
            "Check its log and XCom."
        )

    def _opened(self, gate: dict[str, Any]) -> dict[str, Any]:
        if gate["status"] == "empty":
            self.log.info("nothing to score: %s; skipping the consumers", gate["detail"])
            raise AirflowSkipException(f"nothing to score: {gate['detail']}")
        self.log.info(
            "the run's first events landed (%d delivered so far, run %s); %d events wait in "
            "Postgres terms %s: opening the consumers",
            gate["delivered"], gate["run_state"] or "not yet reported", gate["waiting"],
            gate["lag"],
        )  # fmt: skip
        return gate
