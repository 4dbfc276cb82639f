"""``EventsWaitingSensor``: gate the consumer until events wait; it never consumes them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, Context
from airflow.sdk.exceptions import AirflowSensorTimeout

from loanstream.airflow.connections import KAFKA_CONN_ID, kafka_config
from loanstream.airflow.triggers import ConsumerLagTrigger
from loanstream.config import Settings
from loanstream.lag import LagError, consumer_lag


class EventsWaitingSensor(BaseSensorOperator):
    """Succeeds once the consumer group's lag on ``topic`` is above zero.

    Checks once in the worker; if nothing waits yet, defers to ``ConsumerLagTrigger`` so the
    wait happens in the triggerer and holds no worker slot. Lag comes from the Admin API
    (committed offsets vs end offsets): nothing is fetched or committed.
    """

    template_fields: Sequence[str] = ("topic",)

    def __init__(
        self,
        *,
        topic: str,
        group: str | None = None,
        kafka_conn_id: str = KAFKA_CONN_ID,
        poke_interval: float = 5.0,
        timeout: float = 600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, timeout=timeout, **kwargs)
        self.topic = topic
        self.group = group or Settings.from_env().consumer_group
        self.kafka_conn_id = kafka_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        config = kafka_config(self.kafka_conn_id)
        try:
            lag = consumer_lag(config, self.topic, self.group)
        except LagError as exc:
            self.log.warning("%s: deferring and retrying from the triggerer", exc)
            lag = {}
        if sum(lag.values()) > 0:
            return self._ready(lag)
        self.log.info(
            "no events waiting for group '%s' on '%s': deferring (poll every %ss, timeout %ss)",
            self.group, self.topic, self.poke_interval, self.timeout,
        )  # fmt: skip
        self.defer(
            trigger=ConsumerLagTrigger(
                config, self.topic, self.group, float(self.poke_interval), float(self.timeout)
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout) + 60),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        if event.get("status") == "ready":
            return self._ready(event["lag"])
        detail = f" (last error: {event['last_error']})" if event.get("last_error") else ""
        raise AirflowSensorTimeout(
            f"no events waited for group '{self.group}' on topic '{self.topic}' within "
            f"{event.get('timeout')}s{detail}. Did produce_events deliver anything? Check its "
            "log and XCom; if the events were already scored by another run, there is "
            "nothing to do."
        )

    def _ready(self, lag: dict[Any, int]) -> dict[str, Any]:
        total = sum(lag.values())
        self.log.info("%d events waiting for group '%s': %s", total, self.group, lag)
        return {"waiting": total, "lag": {str(p): n for p, n in lag.items()}}
