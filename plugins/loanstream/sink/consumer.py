"""The sink's Kafka consumer: its settings, and natural batching (what is ready, or the next
event to arrive)."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer, Message

from loanstream.kafka import clients as kafka_clients


def sink_consumer(kafka_config: dict[str, Any], group: str, topic: str) -> Consumer:
    """A consumer of ``topic`` for ``group`` that leaves offsets to Postgres."""
    config = dict(kafka_config)
    config.update(
        {
            "group.id": group,
            "enable.auto.commit": False,  # Postgres holds the offsets; Kafka's are advisory
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
            "fetch.max.bytes": 52_428_800,
            "max.partition.fetch.bytes": 4_194_304,
            # Once its local queue is full, librdkafka waits fetch.queue.backoff.ms before
            # fetching again: at the default 1000 ms the sink sat idle for most of a run
            # (bare consume: 43k events/s; at 10 ms: ~390k, bench/bench_sink.py).
            "fetch.queue.backoff.ms": 10,
        }
    )
    return kafka_clients.consumer(config, f"score '{topic}'")


def poll_batch(consumer: Consumer, limit: int, wait_seconds: float) -> list[Message]:
    """What is ready now, up to ``limit``; if nothing is, wait up to ``wait_seconds`` for one
    event and take what came with it (natural batching)."""
    messages = consumer.consume(num_messages=limit, timeout=0)
    if messages:
        return messages
    first = consumer.poll(wait_seconds)
    if first is None:
        return []
    if limit > 1:
        return [first, *consumer.consume(num_messages=limit - 1, timeout=0)]
    return [first]
