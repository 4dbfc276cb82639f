"""Consumer-group lag from Kafka's Admin API: how many events wait, without consuming any."""

from __future__ import annotations

from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec


class LagError(RuntimeError):
    """Kafka could not be asked, or the topic does not exist."""


def consumer_lag(
    admin_config: dict[str, Any], topic: str, group: str, timeout: float = 10.0
) -> dict[int, int]:
    """Events waiting per partition: end offset minus the group's committed offset.

    A partition the group never committed counts from its log start. Only metadata and offset
    requests are made: the group does not join, fetch or commit anything.
    """
    admin = AdminClient(admin_config)
    try:
        metadata = admin.list_topics(timeout=timeout)
        info = metadata.topics.get(topic)
        if info is None or info.error is not None:
            raise LagError(f"topic '{topic}' does not exist")
        tps = [TopicPartition(topic, p) for p in sorted(info.partitions)]
        request = [ConsumerGroupTopicPartitions(group, tps)]
        committed_result = admin.list_consumer_group_offsets(request)[group].result(timeout)
        committed = {tp.partition: tp.offset for tp in committed_result.topic_partitions}
        latest = admin.list_offsets({tp: OffsetSpec.latest() for tp in tps})
        earliest = admin.list_offsets({tp: OffsetSpec.earliest() for tp in tps})
        lag = {}
        for tp in tps:
            high = latest[tp].result(timeout).offset
            low = earliest[tp].result(timeout).offset
            start = committed.get(tp.partition, -1)
            lag[tp.partition] = max(0, high - (start if start >= 0 else low))
        return lag
    except KafkaException as exc:
        raise LagError(
            f"cannot read offsets of topic '{topic}' for group '{group}' from "
            f"{admin_config.get('bootstrap.servers')}: {exc.args[0]}"
        ) from None
