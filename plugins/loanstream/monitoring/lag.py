"""Per-partition lag of a topic now: its end offsets against the offsets stored in Postgres."""

from __future__ import annotations

from typing import Any

from loanstream.lag import events_waiting, stored_offsets, topic_watermarks
from loanstream.run_params import check_topic


def partition_lag(
    kafka_config: dict[str, Any], pg_dsn: str, topic: str, group: str, timeout: float = 5.0
) -> dict[str, Any]:
    """``{"topic", "group", "partitions": [{partition, log_start, end, stored, lag}], "total"}``.

    Raises ``ValueError`` (``RunParamError``) for an illegal topic name, before asking anyone,
    and ``loanstream.lag.LagError`` when Kafka or Postgres cannot answer.
    """
    topic = check_topic(topic)
    watermarks = topic_watermarks(kafka_config, topic, timeout)
    stored = stored_offsets(pg_dsn, group, topic, sorted(watermarks))
    rows = []
    for partition, (low, high) in sorted(watermarks.items()):
        rows.append({"partition": partition, "log_start": low, "end": high,
                     "stored": stored.get(partition),
                     "lag": events_waiting(low, high, stored.get(partition))})  # fmt: skip
    return {"topic": topic, "group": group, "partitions": rows,
            "total": sum(r["lag"] for r in rows)}  # fmt: skip
