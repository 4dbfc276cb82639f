"""Consumer-group lag: how many events wait for a group, without consuming any."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from loanstream.topics import TopicError, topic_partitions


class LagError(RuntimeError):
    """Kafka could not be asked, or the topic does not exist."""


def consumer_lag(
    kafka_config: dict[str, Any], topic: str, group: str, timeout: float = 10.0
) -> dict[int, int]:
    """Events waiting per partition: end offset minus the group's committed offset.

    A partition the group never committed counts from its log start. The client only asks
    for committed and watermark offsets: it never subscribes, fetches or commits, so the
    group's members and position are untouched. (The Admin API's
    ``list_consumer_group_offsets`` would do too, but it can crash the process in
    confluent-kafka while a brand-new broker's group coordinator is still loading.)
    """
    brokers = kafka_config.get("bootstrap.servers")
    client = Consumer(
        {
            **kafka_config,
            "group.id": group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
        }
    )
    try:
        try:
            partitions = topic_partitions(client, topic, timeout, str(brokers))
        except TopicError as exc:
            raise LagError(str(exc)) from None
        if partitions is None:
            raise LagError(f"topic '{topic}' does not exist")
        tps = [TopicPartition(topic, p) for p in partitions]
        committed = {tp.partition: tp.offset for tp in client.committed(tps, timeout=timeout)}
        lag = {}
        for tp in tps:
            low, high = client.get_watermark_offsets(tp, timeout=timeout)
            start = committed.get(tp.partition, -1)
            lag[tp.partition] = max(0, high - (start if start >= 0 else low))
        return lag
    except KafkaException as exc:
        raise LagError(
            f"cannot read offsets of topic '{topic}' for group '{group}' from "
            f"{brokers}: {exc.args[0]}"
        ) from None
    finally:
        client.close()
