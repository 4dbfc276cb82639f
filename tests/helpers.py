"""Helpers for integration tests: isolated topics, consumer groups and Postgres schemas on the
real services (made and deleted by :mod:`tests.resources`), reading topics, test CSVs."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg2
from confluent_kafka import Consumer, TopicPartition

from loanstream.config import Settings, shared_sample_csv
from tests.resources import Resources, unique_name  # noqa: F401 - tests import them from here

REPO = Path(__file__).resolve().parents[1]


def stock_reader(settings: Settings, topic: str) -> Callable[[bytes], Any]:
    """How a downstream team reads ``topic``'s values: confluent-kafka's stock JSON
    deserializer, the writer's schema taken from the registry by each message's schema id."""
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.json_schema import JSONDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    client = SchemaRegistryClient({"url": settings.schema_registry_url})
    deserializer = JSONDeserializer(None, schema_registry_client=client)
    context = SerializationContext(topic, MessageField.VALUE)
    return lambda value: deserializer(value, context)


def read_events(settings: Settings, topic: str) -> list[tuple[Any, dict[str, Any]]]:
    """Every message of ``topic`` with its value as the stock deserializer reads it."""
    read = stock_reader(settings, topic)
    return [(m, read(m.value())) for m in read_topic(settings, topic)]


def shared_data_csv() -> Path:
    """The real LendingClub sample (see ``loanstream.config.shared_sample_csv``)."""
    return shared_sample_csv()


@contextlib.contextmanager
def landed_csv(
    source: Path | None = None, settings: Settings | None = None, prefix: str = "test"
) -> Iterator[Path]:
    """A fresh ``.csv`` in the landing directory (a data directory: runs may read it), holding
    a copy of ``source`` if given; removed afterwards. The shared sample stays where it is."""
    landing = (settings or Settings.from_env()).landing_dir
    landing.mkdir(parents=True, exist_ok=True)
    target = landing / f"{unique_name(prefix)}.csv"
    if source is not None:
        shutil.copyfile(source, target)
    try:
        yield target
    finally:
        target.unlink(missing_ok=True)


@contextlib.contextmanager
def temp_topic(settings: Settings, partitions: int = 3, prefix: str = "test") -> Iterator[str]:
    """A fresh topic, deleted afterwards (also when the test fails)."""
    with Resources(settings) as res:
        yield res.topic(prefix, partitions=partitions)


@contextlib.contextmanager
def temp_schema(settings: Settings) -> Iterator[str]:
    """A fresh Postgres schema holding the loanstream tables; yields a DSN that uses it.
    Dropped afterwards (also when the test fails)."""
    with Resources(settings) as res:
        yield res.schema()


@contextlib.contextmanager
def temp_group(settings: Settings, prefix: str = "g") -> Iterator[str]:
    """A consumer group name, the group deleted afterwards (also when the test fails)."""
    with Resources(settings) as res:
        yield res.group(prefix)


def query(dsn: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    conn.close()
    return rows


def read_topic(settings: Settings, topic: str, timeout: float = 20.0) -> list:
    """Every message of ``topic`` from the beginning up to its current end."""
    consumer = Consumer(
        settings.kafka_config(**{"group.id": unique_name("reader"), "enable.auto.commit": False})
    )
    try:
        metadata = consumer.list_topics(timeout=10).topics[topic]
        ends = {}
        for p in metadata.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        messages = []
        import time

        deadline = time.monotonic() + timeout
        done: set[int] = set()
        while len(done) < len(ends) and time.monotonic() < deadline:
            for msg in consumer.consume(500, 1.0):
                if msg.error():
                    continue
                messages.append(msg)
                if msg.offset() + 1 >= ends[msg.partition()]:
                    done.add(msg.partition())
        return messages
    finally:
        consumer.close()


def murmur2_partition(key: bytes, partitions: int) -> int:
    """Kafka's Java DefaultPartitioner: murmur2(key) & 0x7fffffff % partitions."""
    seed, m, r = 0x9747B28C, 0x5BD1E995, 24
    length = len(key)
    h = (seed ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(key[i : i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    rest = length % 4
    tail = key[length - rest :]
    if rest == 3:
        h ^= tail[2] << 16
    if rest >= 2:
        h ^= tail[1] << 8
    if rest >= 1:
        h ^= tail[0]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return (h & 0x7FFFFFFF) % partitions


def write_loans_csv(path: Path, source: Path, rows: int, id_prefix: str = "") -> list[str]:
    """The first ``rows`` rows of ``source`` with ids made unique by ``id_prefix``; returns ids.

    ``id_prefix`` is digits: a loan id is digits in the ``loan_application`` contract, and the
    producer rejects a row whose id is not."""
    import csv

    assert id_prefix == "" or id_prefix.isdigit(), f"id_prefix {id_prefix!r}: digits only"

    ids = []
    with source.open(newline="", encoding="utf-8") as src, path.open("w", newline="") as out:
        reader = csv.reader(src)
        writer = csv.writer(out)
        header = next(reader)
        writer.writerow(header)
        at = header.index("id")
        for i, row in enumerate(reader):
            if i >= rows:
                break
            row[at] = f"{id_prefix}{row[at]}"
            ids.append(row[at])
            writer.writerow(row)
    return ids


def restart_registry() -> None:
    """``python -m devstack restart-registry`` in the stack's environment."""
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [str(REPO / "scripts" / "env.sh"), sys.executable, "-m", "devstack", "restart-registry"],
        cwd=REPO, env=os.environ.copy(), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"restart-registry failed:\n{result.stdout}\n{result.stderr}"


def java_properties_dict(text: str) -> dict[str, str]:
    """A Java properties file as a dict (a later key wins, as in Java)."""
    out = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


# Runs `loanstream ...` (``python -c PEAK_RSS_WRAPPER <args>``) and writes its own peak RSS to
# stderr as ``PEAK_RSS_KB <n>``: VmHWM of its address space, which (unlike ru_maxrss) neither
# counts other children nor carries over the memory of the forked parent before exec.
PEAK_RSS_WRAPPER = """
import runpy, sys
sys.argv = ["loanstream", *sys.argv[1:]]
try:
    runpy.run_module("loanstream.cli", run_name="__main__")
finally:
    hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")]
    print("PEAK_RSS_KB", hwm[0].split()[1], file=sys.stderr)
"""


def kafka_tool(main: str, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """One of Kafka's own command-line tools (its main class, from the broker's jars): a stock
    client that is not our code. Pass the admin's tools properties for a login
    (:func:`tools_properties`)."""
    from devstack.kafka import KAFKA_LIBS

    return subprocess.run(["java", "-Xmx256m", "-cp", f"{KAFKA_LIBS}/*", main, *args],
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def tools_properties() -> Path:
    """The admin's Java properties for Kafka's tools (``make up`` writes it, 0600)."""
    props = Path(os.environ.get("LOANSTREAM_KAFKA_TOOLS_PROPERTIES", ""))
    assert props.is_file(), "LOANSTREAM_KAFKA_TOOLS_PROPERTIES: run `make up` first"
    return props
