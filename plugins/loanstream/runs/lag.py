"""Lag: events in the topic that Postgres has not stored yet, per partition (the sensor's gate,
the page and the metrics read it here: ``stored_lag`` and ``partition_lag``).

The offsets stored in Postgres (``consumer_offsets``, written in the same transaction as the
rows) are the one record of progress; Kafka's committed offsets are only an advisory mirror
and are not read here. The topic's end offsets come from a client that never subscribes,
fetches or commits (so a group's members and position are untouched). (The Admin API's
``list_consumer_group_offsets`` is avoided: it crashed the process in confluent-kafka while a
brand-new broker's group coordinator was still loading.)
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg2
from confluent_kafka import KafkaException, TopicPartition

from loanstream.kafka import clients as kafka_clients
from loanstream.kafka.topics import TopicError, topic_partitions
from loanstream.runs.params import check_topic
from loanstream.sink.offsets import OffsetStore
from loanstream.store.connect import first_line, pg_connect


class LagError(RuntimeError):
    """Kafka or Postgres could not be asked, or the topic does not exist."""


def topic_watermarks(
    kafka_config: dict[str, Any], topic: str, timeout: float = 10.0
) -> dict[int, tuple[int, int]]:
    """(log start, end offset) of each partition of ``topic``."""
    brokers = kafka_config.get("bootstrap.servers")
    # one consumer client for the metadata and the offsets (an admin client beside it cost
    # ~0.1 s more per call: the page's metrics ask this for two topics per scrape)
    client = kafka_clients.consumer(
        {**kafka_config, "group.id": "loanstream-watermarks", "enable.auto.commit": False},
        f"offsets of '{topic}'",
    )
    try:
        partitions = topic_partitions(client, topic, timeout, str(brokers))
        if partitions is None:
            raise LagError(f"topic '{topic}' does not exist")
        return {
            p: client.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            for p in partitions
        }
    except TopicError as exc:
        raise LagError(str(exc)) from None
    except KafkaException as exc:
        raise LagError(f"cannot read the offsets of topic '{topic}' from {brokers}: {exc.args[0]}") from None
    finally:
        client.close()


def stored_offsets(pg_dsn: str, group: str, topic: str, partitions: list[int]) -> dict[int, int]:
    """The next offsets Postgres holds for ``group`` on ``topic`` (registered partitions only)."""
    try:
        conn = pg_connect(pg_dsn, application_name="loanstream-lag")
    except psycopg2.OperationalError as exc:
        raise LagError(f"cannot read the stored offsets from Postgres ({first_line(exc)})") from None
    try:
        return OffsetStore(group, topic).stored(conn, partitions)
    except psycopg2.Error as exc:
        raise LagError(f"cannot read the stored offsets from Postgres ({first_line(exc)})") from None
    finally:
        conn.close()


def events_waiting(log_start: int, end: int, stored: int | None) -> int:
    """Events of a partition not yet stored: its end offset minus where scoring resumes (the
    offset stored in Postgres, never below the log start; the log start if none is stored)."""
    return max(0, end - max(log_start if stored is None else stored, log_start))


def stored_lag(
    kafka_config: dict[str, Any], pg_dsn: str, topic: str, group: str, timeout: float = 10.0
) -> dict[int, int]:
    """Events waiting per partition: the topic's end offset minus the offset stored in
    Postgres (a partition never stored counts from its log start)."""
    watermarks = topic_watermarks(kafka_config, topic, timeout)
    stored = stored_offsets(pg_dsn, group, topic, sorted(watermarks))
    return {p: events_waiting(low, high, stored.get(p)) for p, (low, high) in watermarks.items()}


def partition_lag(
    kafka_config: dict[str, Any], pg_dsn: str, topic: str, group: str, timeout: float = 5.0
) -> dict[str, Any]:
    """``{"topic", "group", "partitions": [{partition, log_start, end, stored, lag}], "total"}``.

    Raises ``ValueError`` (``RunParamError``) for an illegal topic name, before asking anyone,
    and ``:class:`LagError``` when Kafka or Postgres cannot answer.
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



class LagReader:
    """Events waiting per partition of several topics (as :func:`stored_lag`), for a process
    that asks again and again (the metrics' scrape): its two Kafka clients (an admin client for
    the partitions, a consumer that never subscribes for the end offsets) are made on the first
    read and kept, which saves ~100 ms per read; any Kafka error drops them, the next read makes
    new ones. One Postgres connection per read."""

    def __init__(self, kafka_config: dict[str, Any], timeout: float = 5.0) -> None:
        self.kafka_config = dict(kafka_config)
        self.timeout = timeout
        self._admin: Any = None
        self._consumer: Any = None
        self._lock = threading.Lock()

    def _clients(self) -> tuple[Any, Any]:
        if self._admin is None:
            self._admin = kafka_clients.admin(self.kafka_config, "offsets of the scraped topics")
            self._consumer = kafka_clients.consumer(
                {**self.kafka_config, "group.id": "loanstream-watermarks", "enable.auto.commit": False},
                "offsets of the scraped topics",
            )
        return self._admin, self._consumer

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
        self._admin = self._consumer = None

    def read(self, pg_dsn: str, topics: list[str], group: str) -> tuple[dict[str, dict[int, int]], dict[str, str]]:
        """``{topic: {partition: events waiting}}`` and ``{topic: why}`` for those that could not
        be read (a topic that does not exist, Kafka or Postgres down)."""
        with self._lock:
            try:
                return self._read(pg_dsn, topics, group)
            except (TopicError, KafkaException) as exc:
                self.close()
                return {}, dict.fromkeys(topics, first_line(exc))

    def _read(self, pg_dsn: str, topics: list[str], group: str) -> tuple[dict[str, dict[int, int]], dict[str, str]]:
        lag: dict[str, dict[int, int]] = {}
        errors: dict[str, str] = {}
        admin, consumer = self._clients()
        brokers = str(self.kafka_config.get("bootstrap.servers"))
        partitions: dict[str, list[int]] = {}
        for topic in topics:
            try:
                found = topic_partitions(admin, check_topic(topic), self.timeout, brokers)
            except ValueError as exc:
                errors[topic] = str(exc)
                continue
            if found is None:
                errors[topic] = f"topic '{topic}' does not exist"
            else:
                partitions[topic] = found
        if not partitions:
            return lag, errors
        try:
            conn = pg_connect(pg_dsn, application_name="loanstream-lag")
        except psycopg2.OperationalError as exc:
            return {}, dict.fromkeys(topics, f"cannot read the stored offsets from Postgres ({first_line(exc)})")
        try:
            for topic, parts in partitions.items():
                marks = {
                    p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=self.timeout)
                    for p in parts
                }
                try:
                    stored = OffsetStore(group, topic).stored(conn, parts)
                except psycopg2.Error as exc:
                    errors[topic] = f"cannot read the stored offsets from Postgres ({first_line(exc)})"
                    continue
                lag[topic] = {p: events_waiting(low, high, stored.get(p)) for p, (low, high) in marks.items()}
        finally:
            conn.close()
        return lag, errors
