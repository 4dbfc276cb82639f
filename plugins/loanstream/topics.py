"""Create the events topic: with ``rpk`` where it is installed, else through Kafka's Admin API."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from loanstream import kafka_clients

log = logging.getLogger(__name__)


class TopicError(RuntimeError):
    """The topic could not be created or exists with an incompatible layout."""


@dataclass(frozen=True)
class TopicResult:
    topic: str
    partitions: int
    created: bool
    method: str  # "rpk" or "admin-api"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def find_rpk() -> str | None:
    """Path of ``rpk`` (``LOANSTREAM_RPK`` overrides the PATH lookup; ``none`` disables it)."""
    override = os.environ.get("LOANSTREAM_RPK", "").strip()
    if override.lower() == "none":
        return None
    return shutil.which(override or "rpk")


def rpk_create_command(
    rpk: str, topic: str, partitions: int, replication: int, retention_ms: int, brokers: str
) -> list[str]:
    """The ``rpk topic create`` command line for our topic settings."""
    return [
        rpk, "topic", "create", topic,
        "--partitions", str(partitions),
        "--replicas", str(replication),
        "--topic-config", f"retention.ms={retention_ms}",
        "-X", f"brokers={brokers}",
    ]  # fmt: skip


def topic_partitions(
    client: Any, topic: str, timeout: float = 10.0, brokers: str = "Kafka"
) -> list[int] | None:
    """Sorted partition ids of ``topic`` (``None`` if it does not exist), via ``client``'s
    metadata (an AdminClient, Consumer or Producer). Unreachable brokers raise ``TopicError``
    naming the address and what to do."""
    try:
        metadata = client.list_topics(timeout=timeout)  # no topic=: that would auto-create it
    except KafkaException as exc:
        raise TopicError(
            f"cannot reach Kafka at {brokers} within {timeout:.0f}s ({exc.args[0]}); start it "
            "(`make up`) or fix LOANSTREAM_BOOTSTRAP_SERVERS / the loanstream_kafka connection"
        ) from None
    info = metadata.topics.get(topic)
    if info is None or info.error is not None:
        return None
    return sorted(info.partitions)


def existing_partitions(
    admin: AdminClient, topic: str, timeout: float = 10.0, brokers: str = "Kafka"
) -> int | None:
    """Partition count of ``topic``, ``None`` if it does not exist."""
    found = topic_partitions(admin, topic, timeout, brokers)
    return None if found is None else len(found)


def _check_layout(topic: str, found: int, wanted: int) -> None:
    if found != wanted:
        raise TopicError(
            f"topic '{topic}' exists with {found} partitions but {wanted} were asked for; "
            f"use partitions={found}, or delete the topic (rpk topic delete {topic} / "
            "kafka-topics --delete) if its data may go"
        )


def ensure_topic(
    kafka_config: dict[str, Any],
    topic: str,
    *,
    partitions: int = 3,
    replication: int = 1,
    retention_ms: int = 7 * 24 * 3600 * 1000,
    use_rpk: bool | None = None,
    timeout: float = 30.0,
) -> TopicResult:
    """Create ``topic`` if missing; pass if it exists with ``partitions``; fail clearly otherwise."""
    with kafka_clients.admin_client(kafka_config, f"topic '{topic}'") as admin:
        return _ensure_topic(
            admin, kafka_config, topic, partitions, replication, retention_ms, use_rpk, timeout
        )


def _ensure_topic(
    admin: AdminClient,
    kafka_config: dict[str, Any],
    topic: str,
    partitions: int,
    replication: int,
    retention_ms: int,
    use_rpk: bool | None,
    timeout: float,
) -> TopicResult:
    brokers = str(kafka_config.get("bootstrap.servers"))
    found = existing_partitions(admin, topic, brokers=brokers)
    rpk = find_rpk() if use_rpk is not False else None
    method = "rpk" if rpk else "admin-api"
    if use_rpk and not rpk:
        raise TopicError("rpk was required but is not installed (set LOANSTREAM_RPK or PATH)")
    if found is not None:
        _check_layout(topic, found, partitions)
        log.info("topic '%s' already exists with %d partitions: nothing to do", topic, found)
        return TopicResult(topic, found, created=False, method=method)

    if rpk:
        command = rpk_create_command(
            rpk, topic, partitions, replication, retention_ms, kafka_config["bootstrap.servers"]
        )
        log.info("creating topic with rpk: %s", " ".join(command))
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        output = (proc.stdout + proc.stderr).strip()
        if proc.returncode != 0 and "TOPIC_ALREADY_EXISTS" not in output:
            raise TopicError(f"rpk topic create failed (exit {proc.returncode}): {output}")
        log.info("rpk: %s", output)
    else:
        log.info(
            "rpk not installed: creating topic '%s' through the Kafka Admin API (%d partitions, "
            "replication %d, retention.ms=%d)",
            topic, partitions, replication, retention_ms,
        )  # fmt: skip
        new = NewTopic(
            topic,
            num_partitions=partitions,
            replication_factor=replication,
            config={"retention.ms": str(retention_ms)},
        )
        future = admin.create_topics([new], operation_timeout=timeout)[topic]
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            error = exc.args[0]
            if getattr(error, "name", lambda: "")() != "TOPIC_ALREADY_EXISTS":
                raise TopicError(f"creating topic '{topic}' failed: {error}") from None
    found = existing_partitions(admin, topic, brokers=brokers)
    deadline = time.monotonic() + timeout
    while found is None and time.monotonic() < deadline:  # metadata catches up shortly after
        time.sleep(0.2)
        found = existing_partitions(admin, topic, brokers=brokers)
    if found is None:
        raise TopicError(f"topic '{topic}' was created but is not visible in the metadata")
    _check_layout(topic, found, partitions)
    log.info("topic '%s' ready: %d partitions, created by %s", topic, found, method)
    return TopicResult(topic, found, created=True, method=method)
