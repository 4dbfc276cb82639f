"""``RunGateTrigger``: fires once a pipeline run's first event has landed (or the run ended)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent
from asgiref.sync import sync_to_async

from loanstream.airflow.hooks import kafka_config, postgres_dsn
from loanstream.runs.gate import check_gate
from loanstream.runs.lag import LagError


class RunGateTrigger(BaseTrigger):
    """Poll the run's gate (run ledger and Postgres-offset lag; never consuming) until it opens.

    Serialises connection ids, never credentials: the connections are read in ``run()``.
    Yields ``{"status": "open" | "empty", ...gate}`` or ``{"status": "timeout", ...}``.

    :param topic: the events topic.
    :param group: the consumer group whose stored offsets count.
    :param run_id: the pipeline run whose first event opens the gate.
    :param kafka_conn_id: Airflow connection of the Kafka cluster.
    :param postgres_conn_id: Airflow connection of the loanstream database.
    :param poke_interval: seconds between checks.
    :param timeout: seconds before a ``timeout`` event.
    """

    def __init__(
        self,
        topic: str,
        group: str,
        run_id: str,
        kafka_conn_id: str,
        postgres_conn_id: str,
        poke_interval: float = 1.0,
        timeout: float = 600.0,
    ) -> None:
        super().__init__()
        self.topic = topic
        self.group = group
        self.run_id = run_id
        self.kafka_conn_id = kafka_conn_id
        self.postgres_conn_id = postgres_conn_id
        self.poke_interval = poke_interval
        self.timeout = timeout

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "topic": self.topic,
                "group": self.group,
                "run_id": self.run_id,
                "kafka_conn_id": self.kafka_conn_id,
                "postgres_conn_id": self.postgres_conn_id,
                "poke_interval": self.poke_interval,
                "timeout": self.timeout,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        deadline = time.monotonic() + self.timeout
        config = await sync_to_async(kafka_config)(self.kafka_conn_id)
        dsn = await sync_to_async(postgres_dsn)(self.postgres_conn_id)
        last_error = ""
        while True:
            try:
                gate = await asyncio.to_thread(
                    check_gate, config, dsn, self.topic, self.group, self.run_id
                )
                last_error = ""
                if gate.status != "wait":
                    yield TriggerEvent(gate.to_dict())
                    return
                self.log.info("run %s: %s", self.run_id, gate.detail)
            except LagError as exc:
                last_error = str(exc)
                self.log.warning("%s (will retry)", exc)
            if time.monotonic() >= deadline:
                yield TriggerEvent(
                    {"status": "timeout", "timeout": self.timeout, "last_error": last_error}
                )
                return
            await asyncio.sleep(self.poke_interval)
