"""Shared by the fault tests: the mixed event topic, verification and the figures report."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson
import psycopg2
from confluent_kafka import Producer

from loanstream.config import Settings
from loanstream.kafka.registry import unframe
from loanstream.kafka.topics import ensure_topic
from loanstream.produce.producer import EventProducer
from loanstream.store import migrations
from tests.helpers import REPO, query, read_topic, unique_name, write_loans_csv
from tests.resources import delete_topics


def reports_dir() -> Path:
    path = Settings.from_env().reports_dir / "chaos"
    path.mkdir(parents=True, exist_ok=True)
    return path


def record(name: str, data: dict) -> Path:
    """Write this test's figures to ``$LOANSTREAM_REPORTS_DIR/chaos/<name>.json``."""
    data = {"test": name, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **data}
    path = reports_dir() / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    print(f"\n{name}: {json.dumps(data, default=str)[:2000]}")
    return path


def poison_values(valid: dict) -> dict[str, bytes]:
    """key -> value of messages that must be dead-lettered, never scored or crash the sink."""
    deep = b"[" * 10_000 + b"]" * 10_000
    return {
        "poison-not-json": b"{this is not json",
        "poison-empty": b"",
        "poison-array": b"[1, 2, 3]",
        "poison-missing-id": orjson.dumps({k: v for k, v in valid.items() if k != "id"}),
        "poison-wrong-type": orjson.dumps({**valid, "id": "p-wrong", "loan_amnt": ["a"]}),
        "poison-deep": deep,
        "poison-surrogate": b'{"id": "\\ud800", "loan_amnt": "1000"}',
        "poison-negative": orjson.dumps({**valid, "id": "p-neg", "loan_amnt": "-5"}),
        "poison-invalid-utf8": b'{"id": "\xff\xfe"}',
        "poison-number": b"42",
    }


@dataclass
class MixedTopic:
    """A topic of real and generated loan events with poison messages mixed in between."""

    topic: str
    partitions: int
    total: int  # messages in the topic
    good_keys: set[str] = field(default_factory=set)
    poison_keys: list[str] = field(default_factory=list)
    ends: dict[int, int] = field(default_factory=dict)


def build_mixed_topic(
    settings: Settings, shared_csv: Path, tmp: Path, *, generated_rows: int = 1000, rounds: int = 3
) -> MixedTopic:
    """~2,000 real + ``generated_rows`` generated events, poison in ``rounds`` places."""
    topic = unique_name("chaos")
    ensure_topic(settings.kafka_config(), topic, partitions=3, use_rpk=False)
    real = tmp / "real.csv"
    gen = tmp / "generated.csv"
    # loan ids are digits (the event contract): 1... real, 2... generated, never the same
    ids = write_loans_csv(real, shared_csv, 10**9, id_prefix="1")
    ids += write_loans_csv(
        gen, REPO / "include" / "data" / "loan_applications_sample.csv", generated_rows, "2"
    )
    mixed = MixedTopic(topic, 3, 0, set(ids))
    producer = EventProducer(settings.kafka_config(), topic)
    raw = Producer(settings.kafka_config(**{"enable.idempotence": True, "acks": "all"}))
    valid = None
    for i, path in enumerate([real, gen]):
        rows = sum(1 for _ in path.open()) - 1
        step = max(1, rows // rounds)
        for skip in range(0, rows, step):
            stats = producer.produce_csv(path, skip=skip, max_events=step, run_id=f"chaos-{i}")
            mixed.total += stats.delivered
            if valid is None:
                valid = orjson.loads(unframe(read_topic(settings, topic)[0].value())[1])
            for key, value in poison_values(valid).items():
                key = f"{key}-{i}-{skip}"
                raw.produce(topic, key=key.encode(), value=value, headers=[("run_id", b"chaos")])
                mixed.poison_keys.append(key)
            raw.flush(30)
    mixed.total += len(mixed.poison_keys)
    mixed.ends = topic_ends(settings, topic)
    assert sum(mixed.ends.values()) == mixed.total
    return mixed


def topic_ends(settings: Settings, topic: str) -> dict[int, int]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(settings.kafka_config(**{"group.id": unique_name("ends")}))
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in meta.partitions
        }
    finally:
        consumer.close()


def delete_topic(settings: Settings, topic: str) -> None:
    delete_topics(settings.kafka_config(), [topic])  # problems are printed, not raised


def check_produced(
    settings: Settings, topic: str, log: Path, rc: int, ids: list[str], run_id: str
) -> dict:
    """A killed-and-recovered `loanstream produce` (exit code ``rc``, output in ``log``) and
    the topic it wrote, checked: every id once, no row twice, all of run ``run_id``, and the
    producer's own counts agree. Returns the counts for the record."""
    output = log.read_text()
    assert rc == 0, output[-3000:]
    stats = json.loads(output.strip().splitlines()[-1])
    messages = read_topic(settings, topic, timeout=60)
    keys = Counter(m.key().decode() for m in messages)
    rows = Counter(dict(m.headers())["row"] for m in messages)
    runs = {dict(m.headers())["run_id"] for m in messages}
    counts = {
        "sent": stats["sent"],
        "delivered": stats["delivered"],
        "failed": stats["failed"],
        "in_topic": len(messages),
        "duplicate_keys": sum(n - 1 for n in keys.values()),
        "duplicate_rows": sum(n - 1 for n in rows.values()),
        "missing": len(set(ids) - set(keys)),
        "producer_s": stats["seconds"],
        "delivery_s": stats["delivery_seconds"],
    }
    assert stats["sent"] == stats["delivered"] == len(ids) and stats["failed"] == 0, counts
    assert len(messages) == len(ids) and set(keys) == set(ids), counts
    assert counts["duplicate_keys"] == counts["duplicate_rows"] == 0, counts
    assert len(rows) == len(ids), counts
    assert runs == {run_id.encode()}, runs
    return counts


@dataclass
class Outcome:
    expected_scored: int
    stored: int
    distinct_loans: int
    duplicates: int
    missing: int
    unexpected: int
    dead_letters: int
    dead_distinct_positions: int
    expected_dead: int
    offsets_ok: bool
    decisions_match: bool  # current state (the risk_scored view) = history: one decision each

    @property
    def exact(self) -> bool:
        return (
            self.duplicates == 0
            and self.missing == 0
            and self.unexpected == 0
            and self.stored == self.expected_scored
            and self.dead_letters == self.dead_distinct_positions == self.expected_dead
            and self.offsets_ok
            and self.decisions_match
        )

    def to_dict(self) -> dict:
        return {**asdict(self), "exact": self.exact}


def check_database(
    dsn: str, topic: str, group: str, expected_ids: set[str], expected_dead: set[tuple[int, int]],
    ends: dict[int, int],
) -> Outcome:  # fmt: skip
    """Compare what Postgres holds with what the topic holds: every event exactly once."""
    ids = [r[0] for r in query(dsn, "SELECT loan_id FROM risk_scored")]
    positions = query(dsn, "SELECT src_partition, src_offset FROM risk_scored")
    dead = [tuple(r) for r in query(dsn, 'SELECT partition, "offset" FROM dead_letters')]
    decisions = query(dsn, "SELECT src_partition, src_offset FROM risk_decisions")
    offsets = dict(
        query(
            dsn,
            "SELECT partition, next_offset FROM consumer_offsets WHERE topic = %s "
            "AND consumer_group = %s",
            (topic, group),
        )
    )
    counts = Counter(ids)
    return Outcome(
        expected_scored=len(expected_ids),
        stored=len(ids),
        distinct_loans=len(counts),
        duplicates=sum(n - 1 for n in counts.values()) + len(positions) - len(set(positions)),
        missing=len(expected_ids - set(counts)),
        unexpected=len(set(counts) - expected_ids),
        dead_letters=len(dead),
        dead_distinct_positions=len(set(dead) & expected_dead),
        expected_dead=len(expected_dead),
        offsets_ok=offsets == dict(ends),
        decisions_match=sorted(map(tuple, decisions)) == sorted(map(tuple, positions)),
    )


BATCH_DELAY_S = 0.03


def slow_batches(dsn: str, seconds: float = BATCH_DELAY_S) -> None:
    """Make every write into ``risk_decisions`` (one per batch) take ``seconds`` longer, inside its
    transaction: the sink stores the 3,080-event stream in well under a second, so kills
    aimed at "mid-stream" would otherwise land after the end. (A statement trigger that
    sleeps, in the schema of ``dsn`` only.)"""
    conn = psycopg2.connect(dsn)
    try:
        migrations.migrate(conn, REPO / "include" / "sql" / "migrations")  # no-op if migrated
        with conn, conn.cursor() as cur:
            cur.execute(
                "CREATE FUNCTION chaos_slow_batch() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$BEGIN PERFORM pg_sleep({float(seconds)}); RETURN NULL; END$$"
            )
            cur.execute(
                "CREATE TRIGGER chaos_slow_batch AFTER INSERT ON risk_decisions "
                "FOR EACH STATEMENT EXECUTE FUNCTION chaos_slow_batch()"
            )
    finally:
        conn.close()


def consume_args(topic: str, group: str, batch_size: int = 50) -> list[str]:
    return [
        "consume", "--topic", topic, "--group", group, "--batch-size", str(batch_size),
        "--idle-timeout", "15",
    ]  # fmt: skip


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def env_seed() -> int:
    return int(os.environ.get("LOANSTREAM_CHAOS_SEED", "") or time.time_ns() % 1_000_000)


SESSIONS_SQL = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"


def wait_sink_sessions_gone(dsn: str, timeout: float = 10.0) -> None:
    """A COMMIT sent just before a SIGKILL is still applied by its backend: wait for the dead
    sink's Postgres sessions to end before counting what was stored."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and query(dsn, SESSIONS_SQL, ("loanstream-sink",))[0][0]:
        time.sleep(0.02)
