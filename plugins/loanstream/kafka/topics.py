"""Create the events topic: with ``rpk`` where it is installed, else through Kafka's Admin API.

Replication follows the cluster (:func:`replication_for`): ``min(3, brokers)`` replicas,
``min.insync.replicas`` 2 when there are three (so an ``acks=all`` write survives one broker's
death and is refused, not half-stored, when two are gone), and unclean leader election off
(a replica that missed writes never becomes leader: no acknowledged event is lost)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from typing import Any

from confluent_kafka import KafkaException, TopicCollection
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from loanstream.kafka import clients as kafka_clients

log = logging.getLogger(__name__)


class TopicError(RuntimeError):
    """The topic could not be created or exists with an incompatible layout."""


@dataclass(frozen=True)
class TopicResult:
    topic: str
    partitions: int
    created: bool
    method: str  # "rpk" or "admin-api"
    replication: int = 1  # replicas per partition in force (read back from the cluster)
    min_insync_replicas: int | None = None  # the topic's min.insync.replicas (None: unknown)
    brokers: int = 1  # brokers in the cluster's metadata

    def describe(self) -> str:
        """``replication 3 (min.insync.replicas 2) on 3 brokers``"""
        isr = "?" if self.min_insync_replicas is None else self.min_insync_replicas
        plural = "s" if self.brokers != 1 else ""
        return f"replication {self.replication} (min.insync.replicas {isr}) on {self.brokers} broker{plural}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


MAX_REPLICATION = 3


def replication_for(brokers: int) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) for a cluster of ``brokers`` brokers:
    ``min(3, brokers)`` replicas; 2 in-sync replicas required when there are three, else 1."""
    if brokers < 1:
        raise TopicError("the cluster reports no brokers: cannot choose a replication factor")
    replication = min(MAX_REPLICATION, brokers)
    return replication, 2 if replication >= MAX_REPLICATION else 1


def topic_configs(retention_ms: int, min_insync: int) -> dict[str, str]:
    """The topic-level settings every loanstream topic is created with."""
    return {
        "retention.ms": str(retention_ms),
        "min.insync.replicas": str(min_insync),
        "unclean.leader.election.enable": "false",
    }


def find_rpk() -> str | None:
    """Path of ``rpk`` (``LOANSTREAM_RPK`` overrides the PATH lookup; ``none`` disables it)."""
    override = os.environ.get("LOANSTREAM_RPK", "").strip()
    if override.lower() == "none":
        return None
    return shutil.which(override or "rpk")


def rpk_create_command(
    rpk: str,
    topic: str,
    partitions: int,
    replication: int,
    retention_ms: int,
    brokers: str,
    min_insync: int = 1,
) -> list[str]:
    """The ``rpk topic create`` command line for our topic settings."""
    configs = [
        arg
        for key, value in topic_configs(retention_ms, min_insync).items()
        for arg in ("--topic-config", f"{key}={value}")
    ]
    return [
        rpk, "topic", "create", topic,
        "--partitions", str(partitions),
        "--replicas", str(replication),
        *configs,
        "-X", f"brokers={brokers}",
    ]  # fmt: skip


# rpk's -X options read from its environment (RPK_<OPTION>): the login never goes on argv
_RPK_ENV = {
    "RPK_USER": "sasl.username",
    "RPK_PASS": "sasl.password",
    "RPK_SASL_MECHANISM": "sasl.mechanism",
    "RPK_TLS_CA": "ssl.ca.location",
}


def rpk_env(kafka_config: dict[str, Any]) -> dict[str, str]:
    """The environment ``rpk`` runs with: ours plus the client settings' SASL login and CA
    (``RPK_USER``, ``RPK_PASS``, ``RPK_SASL_MECHANISM``, ``RPK_TLS_*``), never on its command
    line, where any user's ``ps`` would show the password."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RPK_")}
    env.update({var: str(kafka_config[key]) for var, key in _RPK_ENV.items() if kafka_config.get(key)})
    if str(kafka_config.get("security.protocol", "")).upper() in ("SSL", "SASL_SSL"):
        env["RPK_TLS_ENABLED"] = "true"
    return env


def topic_partitions(
    client: Any, topic: str, timeout: float = 10.0, brokers: str = "Kafka"
) -> list[int] | None:
    """Sorted partition ids of ``topic`` (``None`` if it does not exist), via ``client``'s
    metadata (an AdminClient, Consumer or Producer). Unreachable brokers raise ``TopicError``
    naming the address and what to do."""
    info = _cluster_metadata(client, timeout, brokers).topics.get(topic)
    if info is None or info.error is not None:
        return None
    return sorted(info.partitions)


NO_TOPIC_ID = "AAAAAAAAAAAAAAAAAAAAAA"  # the zero UUID: a broker that keeps no topic ids


def topic_id(admin: AdminClient, topic: str, timeout: float = 10.0) -> str | None:
    """Kafka's id of ``topic`` (KIP-516: a new id each time a topic of that name is created),
    or None where the cluster does not say (no such topic, a broker without topic ids)."""
    try:
        future = admin.describe_topics(TopicCollection([topic]), request_timeout=timeout)[topic]
        found = str(future.result(timeout=timeout).topic_id or "")
    except (KafkaException, TimeoutError) as exc:
        log.debug("topic '%s': no topic id (%s)", topic, exc)
        return None
    return found if found and found != NO_TOPIC_ID else None


def _cluster_metadata(client: Any, timeout: float, brokers: str) -> Any:
    """The cluster's metadata, or ``TopicError`` naming the address and what to do."""
    try:
        return client.list_topics(timeout=timeout)  # no topic=: that would auto-create it
    except KafkaException as exc:
        raise TopicError(
            f"cannot reach Kafka at {brokers} within {timeout:.0f}s ({exc.args[0]}); start it "
            "(`make up`) or fix LOANSTREAM_BOOTSTRAP_SERVERS / the loanstream_kafka_<role> connection"
        ) from None


def cluster_layout(
    admin: AdminClient, topic: str, timeout: float = 10.0, brokers: str = "Kafka"
) -> tuple[int, int | None, int]:
    """(brokers in the cluster, partitions of ``topic`` or None, replicas of its partition 0)."""
    metadata = _cluster_metadata(admin, timeout, brokers)
    info = metadata.topics.get(topic)
    if info is None or info.error is not None or not info.partitions:
        return len(metadata.brokers), None, 0
    first = info.partitions[min(info.partitions)]
    return len(metadata.brokers), len(info.partitions), len(first.replicas)


def min_insync_of(admin: AdminClient, topic: str, timeout: float = 10.0) -> int | None:
    """The topic's ``min.insync.replicas`` (None if the cluster does not say within
    ``timeout``: right after creation a broker may not know the topic yet, so it asks again)."""
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    deadline = time.monotonic() + timeout
    while True:
        try:
            entries = admin.describe_configs([resource])[resource].result(timeout=timeout)
            return int(entries["min.insync.replicas"].value)
        except (KafkaException, KeyError, ValueError, TypeError):
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.2)


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
    replication: int | None = None,
    retention_ms: int = 7 * 24 * 3600 * 1000,
    use_rpk: bool | None = None,
    timeout: float = 30.0,
) -> TopicResult:
    """Create ``topic`` if missing; pass if it exists with ``partitions``; fail clearly otherwise.

    ``replication`` None (the default) follows the cluster: :func:`replication_for` its broker
    count. The result carries the replication and ``min.insync.replicas`` in force, read back
    from the cluster (for an existing topic: what it was created with)."""
    with kafka_clients.admin_client(kafka_config, f"topic '{topic}'") as admin:
        return _ensure_topic(
            admin, kafka_config, topic, partitions, replication, retention_ms, use_rpk, timeout
        )


def _ensure_topic(
    admin: AdminClient,
    kafka_config: dict[str, Any],
    topic: str,
    partitions: int,
    replication: int | None,
    retention_ms: int,
    use_rpk: bool | None,
    timeout: float,
) -> TopicResult:
    brokers = str(kafka_config.get("bootstrap.servers"))
    broker_count, found, replicas = cluster_layout(admin, topic, brokers=brokers)
    rpk = find_rpk() if use_rpk is not False else None
    method = "rpk" if rpk else "admin-api"
    if use_rpk and not rpk:
        raise TopicError("rpk was required but is not installed (set LOANSTREAM_RPK or PATH)")
    if found is not None:
        _check_layout(topic, found, partitions)
        result = TopicResult(
            topic, found, False, method, replicas, min_insync_of(admin, topic), broker_count
        )
        log.info(
            "topic '%s' already exists with %d partitions, %s: nothing to do",
            topic, found, result.describe(),
        )  # fmt: skip
        return result

    auto_replication, min_insync = replication_for(broker_count)
    if replication is None:
        replication = auto_replication
    elif replication < 1 or replication > broker_count:
        raise TopicError(
            f"replication {replication} asked for topic '{topic}' but the cluster at {brokers} "
            f"has {broker_count} broker(s); use 1..{broker_count} (or leave it unset: "
            f"min(3, brokers) = {auto_replication})"
        )
    else:
        min_insync = replication_for(replication)[1]
    configs = topic_configs(retention_ms, min_insync)
    if rpk:
        command = rpk_create_command(
            rpk, topic, partitions, replication, retention_ms, kafka_config["bootstrap.servers"],
            min_insync,
        )  # fmt: skip
        log.info("creating topic with rpk: %s", " ".join(command))
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=rpk_env(kafka_config)
        )
        output = (proc.stdout + proc.stderr).strip()
        if proc.returncode != 0 and "TOPIC_ALREADY_EXISTS" not in output:
            raise TopicError(f"rpk topic create failed (exit {proc.returncode}): {output}")
        log.info("rpk: %s", output)
    else:
        log.info(
            "rpk not installed: creating topic '%s' through the Kafka Admin API (%d partitions, "
            "replication %d on %d broker(s), %s)",
            topic, partitions, replication, broker_count,
            ", ".join(f"{k}={v}" for k, v in configs.items()),
        )  # fmt: skip
        new = NewTopic(
            topic, num_partitions=partitions, replication_factor=replication, config=configs
        )
        future = admin.create_topics([new], operation_timeout=timeout)[topic]
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            error = exc.args[0]
            if getattr(error, "name", lambda: "")() != "TOPIC_ALREADY_EXISTS":
                raise TopicError(f"creating topic '{topic}' failed: {error}") from None
    broker_count, found, replicas = cluster_layout(admin, topic, brokers=brokers)
    deadline = time.monotonic() + timeout
    while found is None and time.monotonic() < deadline:  # metadata catches up shortly after
        time.sleep(0.2)
        broker_count, found, replicas = cluster_layout(admin, topic, brokers=brokers)
    if found is None:
        raise TopicError(f"topic '{topic}' was created but is not visible in the metadata")
    _check_layout(topic, found, partitions)
    result = TopicResult(
        topic, found, True, method, replicas, min_insync_of(admin, topic), broker_count
    )
    log.info(
        "topic '%s' ready: %d partitions, %s, created by %s",
        topic, found, result.describe(), method,
    )  # fmt: skip
    return result
