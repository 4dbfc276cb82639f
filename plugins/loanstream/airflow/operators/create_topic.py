"""``CreateTopicOperator``: create the events topic (``rpk`` where installed, else the Admin API)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from loanstream.airflow.hooks import (
    KAFKA_ADMIN_CONN_ID,
    kafka_config,
)
from loanstream.airflow.memory import LogsPeakMemory


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
        replication: int | None = None,  # None: min(3, brokers) (loanstream.kafka.topics)
        kafka_conn_id: str = KAFKA_ADMIN_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.topic = topic
        self.partitions = partitions
        self.retention_ms = retention_ms
        self.replication = replication
        self.kafka_conn_id = kafka_conn_id

    def execute(self, context: Context) -> list[int]:
        from loanstream.kafka.topics import TopicError, ensure_topic

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
