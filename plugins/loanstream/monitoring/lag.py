"""Per-partition lag of a topic now: its end offsets against the offsets stored in Postgres."""

from __future__ import annotations

import re
from typing import Any

from loanstream.lag import stored_offsets, topic_watermarks

TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")  # Kafka's legal topic names


def partition_lag(
    kafka_config: dict[str, Any], pg_dsn: str, topic: str, group: str, timeout: float = 5.0
) -> dict[str, Any]:
    """``{"topic", "group", "partitions": [{partition, log_start, end, stored, lag}], "total"}``.

    Raises ``ValueError`` for an illegal topic name (before asking anyone) and
    ``loanstream.lag.LagError`` when Kafka or Postgres cannot answer.
    """
    if not TOPIC_NAME.match(topic):
        raise ValueError("not a Kafka topic name (letters, digits, '.', '_', '-'; 1-249)")
    watermarks = topic_watermarks(kafka_config, topic, timeout)
    stored = stored_offsets(pg_dsn, group, topic, sorted(watermarks))
    rows = []
    for partition, (low, high) in sorted(watermarks.items()):
        position = max(stored.get(partition, low), low)
        rows.append({"partition": partition, "log_start": low, "end": high,
                     "stored": stored.get(partition), "lag": max(0, high - position)})  # fmt: skip
    return {"topic": topic, "group": group, "partitions": rows,
            "total": sum(r["lag"] for r in rows)}  # fmt: skip
