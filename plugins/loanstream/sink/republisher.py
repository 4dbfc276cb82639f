"""The republisher: scored events to a second topic, acknowledged before the batch commits.

At-least-once into that topic (idempotent producer, keyed by loan id), with source
topic/partition/offset headers for de-duplication downstream. Each value is a ``risk_decision``
event (``loanstream.contract.decision``), framed with the id of that schema, which the
republisher registers under ``<topic>-value`` (BACKWARD) when it starts: a stock
deserializer reads it with the writer's schema from the registry.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError, Message

from loanstream.contract import decision
from loanstream.kafka import clients as kafka_clients
from loanstream.kafka.registry import RegistryError, ValueSchemas, frame
from loanstream.sink.errors import SinkError
from loanstream.sink.scorer import Batch


class Republisher:
    """Produces a batch's payloads to ``topic`` and waits for every acknowledgement.

    :param kafka_config: librdkafka settings of the source cluster (SASL/TLS included).
    :param topic: where scored events go (``LOANSTREAM_SCORED_TOPIC``).
    :param registry_url: the schema registry where ``risk_decision`` is registered for
        ``topic`` (``LOANSTREAM_SCHEMA_REGISTRY_URL``).
    """

    def __init__(self, kafka_config: dict[str, Any], topic: str, registry_url: str) -> None:
        self.topic = topic
        try:
            registered = ValueSchemas(registry_url).register(topic, decision.schema_text())
        except RegistryError as exc:
            raise SinkError(
                f"cannot republish to '{topic}': {exc}; nothing was consumed"
            ) from None
        self.schema_id = registered.schema_id
        self._producer = kafka_clients.producer(
            {
                **kafka_config,
                "enable.idempotence": True,  # retries never duplicate within a session
                "acks": "all",
                "linger.ms": 5,
                "partitioner": "murmur2_random",  # same key -> same partition as Java clients
            },
            f"republish to '{topic}'",
        )

    def publish(self, batch: Batch) -> int:
        """Send ``batch.republish``; raise ``SinkError`` unless every event was acknowledged."""
        failures: list[str] = []

        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                failures.append(err.str())

        for key, value, headers in batch.republish:
            while True:
                try:
                    self._producer.produce(
                        self.topic, key=key, value=frame(self.schema_id, value),
                        headers=headers, on_delivery=on_delivery,
                    )  # fmt: skip
                    break
                except BufferError:
                    self._producer.poll(0.05)
        remaining = self._producer.flush(60)
        if remaining or failures:
            raise SinkError(
                f"republishing to '{self.topic}' failed for {remaining + len(failures)} "
                f"events ({failures[:3]}); nothing was committed, re-run to retry"
            )
        return len(batch.republish)

    def close(self) -> None:
        """Write the client's repeated-line counts (every batch was flushed by ``publish``)."""
        self._producer.finish_log()
