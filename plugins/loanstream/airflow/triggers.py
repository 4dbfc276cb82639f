"""``ConsumerLagTrigger``: fires when a consumer group has events waiting on a topic."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from loanstream.lag import LagError, consumer_lag


class ConsumerLagTrigger(BaseTrigger):
    """Poll the group's lag with the Admin API (never consuming) until it is above zero.

    Yields ``{"status": "ready", "lag": {...}}``, ``{"status": "timeout", ...}`` or
    ``{"status": "error", "message": ...}``.
    """

    def __init__(
        self,
        kafka_config: dict[str, Any],
        topic: str,
        group: str,
        poke_interval: float = 5.0,
        timeout: float = 600.0,
    ) -> None:
        super().__init__()
        self.kafka_config = kafka_config
        self.topic = topic
        self.group = group
        self.poke_interval = poke_interval
        self.timeout = timeout

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "kafka_config": self.kafka_config,
                "topic": self.topic,
                "group": self.group,
                "poke_interval": self.poke_interval,
                "timeout": self.timeout,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        deadline = time.monotonic() + self.timeout
        last_error = ""
        while True:
            try:
                lag = await asyncio.to_thread(
                    consumer_lag, self.kafka_config, self.topic, self.group
                )
                last_error = ""
                if sum(lag.values()) > 0:
                    yield TriggerEvent({"status": "ready", "lag": lag})
                    return
                self.log.info(
                    "no events waiting for group '%s' on '%s' yet", self.group, self.topic
                )
            except LagError as exc:
                last_error = str(exc)
                self.log.warning("%s (will retry)", exc)
            if time.monotonic() >= deadline:
                yield TriggerEvent(
                    {"status": "timeout", "timeout": self.timeout, "last_error": last_error}
                )
                return
            await asyncio.sleep(self.poke_interval)
