"""The services `make up` starts are real and usable: a Kafka round trip, a Postgres round trip."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.helpers import unique_name

pytestmark = pytest.mark.integration


def test_kafka_produce_and_consume_round_trip(kafka_config: dict, unique_topic) -> None:
    from confluent_kafka import Consumer, Producer

    topic = unique_topic(partitions=3)
    key, value = f"k-{uuid.uuid4().hex}", b'{"smoke": true}'
    producer = Producer({**kafka_config, "enable.idempotence": True, "acks": "all"})
    delivered = []
    producer.produce(
        topic, key=key, value=value, on_delivery=lambda err, msg: delivered.append((err, msg))
    )
    assert producer.flush(15) == 0
    assert len(delivered) == 1 and delivered[0][0] is None, delivered
    partition, offset = delivered[0][1].partition(), delivered[0][1].offset()

    consumer = Consumer(
        {
            **kafka_config,
            "group.id": unique_name("smoke"),  # deleted when the session ends
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + 30
        msg = None
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None:
                break
        assert msg is not None and msg.error() is None, "no message consumed within 30 s"
        assert (msg.key().decode(), msg.value()) == (key, value)
        assert (msg.partition(), msg.offset()) == (partition, offset)
    finally:
        consumer.close()


def test_kafka_topic_has_requested_partitions(kafka_admin, unique_topic) -> None:
    topic = unique_topic(partitions=3, config={"retention.ms": "604800000"})
    meta = kafka_admin.list_topics(topic, timeout=10)
    assert len(meta.topics[topic].partitions) == 3


def test_postgres_write_and_read_row(pg_conn) -> None:
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE smoke (id text PRIMARY KEY, n integer)")
        cur.execute("INSERT INTO smoke VALUES (%s, %s)", ("a", 42))
        cur.execute("SELECT id, n FROM smoke")
        assert cur.fetchall() == [("a", 42)]


def test_postgres_schema_is_applied(pg_conn) -> None:
    with pg_conn.cursor() as cur:
        for table in ("risk_scored", "consumer_offsets", "dead_letters"):
            cur.execute("SELECT to_regclass(%s)", (f"public.{table}",))
            assert cur.fetchone()[0] == table, (
                f"{table} missing: `make up` applies include/sql/migrations (loanstream schema migrate)"
            )


def test_postgres_schema_is_at_the_newest_migration(pg_conn) -> None:
    """`make up` migrated the stack's database to this checkout's newest migration."""
    from loanstream.config import Settings
    from loanstream.store import migrations

    assert migrations.check(pg_conn, Settings.from_env().migrations_dir) >= 1
