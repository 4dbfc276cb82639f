"""Producer benchmarks, side by side in one run, on the broker `make up` started.

    scripts/env.sh .venv/bin/python bench/bench_producer.py [--quick]

1. Rate accuracy: achieved / target at 10, 200, 5,000 and 50,000 events/s, >= 5 s each,
   three times each.
2. Unthrottled, 100,000 rows of the generated sample: our events/s vs Kafka's own
   ``org.apache.kafka.tools.ProducerPerformance`` sending the same number of records with the
   same payloads (our typed events as framed for the registry, via --payload-file) and the
   same client settings.
   Both count until the last record is acknowledged (ours: the final flush included).
   ``--pairs`` (3) runs of the two back to back; the median pair is the result.
3. The same 100,000 rows through a naive baseline written like the prototype
   (pandas ``iterrows`` + ``json.dumps`` + flush every 200): our speed-up.
4. Peak RSS of ``loanstream produce`` on a 1,000,000-row CSV.

Prints one JSON object per measurement and a summary table; ``--markdown`` prints the table
for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from confluent_kafka import Producer

from loanstream.config import Settings
from loanstream.kafka.registry import frame
from loanstream.kafka.topics import ensure_topic
from loanstream.lendingclub.sample import generate_sample
from loanstream.produce.events import finish_event, iter_event_batches, utc_now_iso
from loanstream.produce.producer import EventProducer, ProducerOptions

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.helpers import PEAK_RSS_WRAPPER  # noqa: E402
from tests.resources import delete_subjects, delete_topics, unique_name  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".local" / "bench"
KAFKA_LIBS = ROOT / ".local" / "kafka" / "libs"


def dataset(rows: int) -> Path:
    """The generated LendingClub-schema sample with ``rows`` rows (made once, seed 42)."""
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"loans_{rows}.csv"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        generate_sample(tmp, rows=rows, seed=42)
        tmp.rename(path)
    return path


@contextlib.contextmanager
def landed_dataset(rows: int) -> Iterator[Path]:
    """``dataset(rows)`` linked (or copied) into the landing directory, a data directory that
    Dag runs may read (``LOANSTREAM_DATA_DIRS``); removed afterwards."""
    source = dataset(rows)
    landing = Settings.from_env().landing_dir
    landing.mkdir(parents=True, exist_ok=True)
    target = landing / f"bench_{source.stem}_{uuid.uuid4().hex[:8]}.csv"
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    try:
        yield target
    finally:
        target.unlink(missing_ok=True)


class Topics:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.made: list[str] = []

    def new(self, label: str, partitions: int = 3) -> str:
        topic = unique_name(f"bench_{label}")
        ensure_topic(self.settings.kafka_config(), topic, partitions=partitions, use_rpk=False)
        self.made.append(topic)
        return topic

    def cleanup(self) -> None:
        """Delete the topics, waiting for the broker's answer (``AdminClient(...).delete_topics()``
        on a client dropped at once never sends the request: runs used to leave 13 topics)."""
        delete_topics(self.settings.kafka_config(), self.made)
        delete_subjects(self.settings.schema_registry_url, self.made)
        self.made = []


def rate_accuracy(
    settings: Settings, topics: Topics, csv: Path, seconds: float, repeats: int = 3
) -> list[dict]:
    results = []
    for rate in [r for r in (10, 200, 5_000, 50_000) for _ in range(repeats)]:
        n = int(rate * seconds)
        producer = EventProducer(settings.kafka_config(), topics.new(f"rate{rate}"))
        wall = time.perf_counter()
        stats = producer.produce_csv(csv, rate=rate, max_events=n)
        wall = time.perf_counter() - wall
        result = {
            "bench": "rate_accuracy",
            "target_eps": rate,
            "events": stats.sent,
            "seconds": round(stats.seconds, 4),
            "achieved_eps": round(stats.eps, 2),
            "ratio": round(stats.eps / rate, 5),
            "delivery_seconds": round(stats.delivery_seconds, 4),
            "ratio_incl_final_flush": round(stats.sent / stats.delivery_seconds / rate, 5),
            "wall_seconds_incl_setup": round(wall, 3),
        }
        print(json.dumps(result), flush=True)
        results.append(result)
    return results


def cpu_seconds(who: int) -> float:
    """User + system CPU time of this process (all its threads) or of its waited-for children:
    what a run costs the 2 shared cores, steadier than its wall time on a busy machine."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def encoding(csv: Path) -> dict:
    """CSV -> typed event bodies only (no Kafka): the Python encoder vs the native one, µs per
    event (best of 3 passes each, alternating)."""
    best = {"off": float("inf"), "on": float("inf")}
    events = 0
    for _ in range(3):
        for mode in best:
            started = time.perf_counter()
            batches = iter_event_batches(csv, native=mode, typed=True)
            events = sum(len(batch) for batch in batches)
            best[mode] = min(best[mode], time.perf_counter() - started)
    result = {
        "bench": "encoding_only",
        "events": events,
        "python_us_per_event": round(best["off"] / events * 1e6, 2),
        "native_us_per_event": round(best["on"] / events * 1e6, 2),
    }
    print(json.dumps(result), flush=True)
    return result


def ours_unthrottled(
    settings: Settings, topics: Topics, csv: Path, rows: int, encoding: str = "auto"
) -> dict:
    """``produce_csv`` unthrottled; ``encoding``: LOANSTREAM_NATIVE_ENCODING for this run."""
    before = os.environ.get("LOANSTREAM_NATIVE_ENCODING")
    os.environ["LOANSTREAM_NATIVE_ENCODING"] = encoding
    try:
        producer = EventProducer(settings.kafka_config(), topics.new("ours"))
        cpu = cpu_seconds(resource.RUSAGE_SELF)
        stats = producer.produce_csv(csv)
        cpu = cpu_seconds(resource.RUSAGE_SELF) - cpu
    finally:
        if before is None:
            del os.environ["LOANSTREAM_NATIVE_ENCODING"]
        else:
            os.environ["LOANSTREAM_NATIVE_ENCODING"] = before
    assert stats.delivered == rows, stats
    name = "ours_unthrottled" if encoding != "off" else "ours_unthrottled_python_encoding"
    # `eps`: every event delivered and acknowledged, as ProducerPerformance counts (it reports
    # after close(), from its callbacks); `sending_eps`: until the last produce() call
    result = {"bench": name, "events": stats.sent,
              "seconds": round(stats.delivery_seconds, 3),
              "eps": round(stats.sent / stats.delivery_seconds, 1),
              "sending_eps": round(stats.eps, 1), "cpu_seconds": round(cpu, 3),
              "schema_id": stats.value_schema["id"]}  # fmt: skip
    print(json.dumps(result), flush=True)
    return result


def payload_file(csv: Path, rows: int, schema_id: int) -> tuple[Path, int]:
    """Our values as the producer sends them (typed, framed with ``schema_id``), one per line,
    for ProducerPerformance --payload-file (which reads the file as UTF-8 text: an id whose
    four bytes are not plain ASCII, or hold a newline, would change the payloads)."""
    framing = frame(schema_id, b"")
    if any(byte == 0x0A or byte > 0x7F for byte in framing):
        raise SystemExit(f"schema id {schema_id}: its bytes {framing!r} are not plain text")
    path = DATA / f"payloads_{rows}.jsonl"
    total = 0
    count = 0
    with path.open("wb") as out:
        for batch in iter_event_batches(csv, typed=True):
            for body in batch.bodies:
                value = framing + finish_event(body, utc_now_iso())
                out.write(value + b"\n")
                total += len(value)
                count += 1
    return path, total // max(count, 1)


def producer_performance_command(
    bootstrap: str, topic: str, records: int, payloads: Path, heap: str = "1g",
    login: str | None = None,
) -> list[str]:
    """Kafka's ``ProducerPerformance`` sending ``payloads`` with our producer's settings;
    ``login``: a Java properties file with the SASL login (default
    ``LOANSTREAM_KAFKA_TOOLS_PROPERTIES``: the admin's, written by ``make up``)."""
    login = login or os.environ.get("LOANSTREAM_KAFKA_TOOLS_PROPERTIES", "")
    options = ProducerOptions()
    props = {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": "true",
        "linger.ms": options.linger_ms,
        "batch.size": options.batch_bytes,
        "compression.type": options.compression,
    }
    return [
        "java", f"-Xmx{heap}", "-cp", f"{KAFKA_LIBS}/*", "org.apache.kafka.tools.ProducerPerformance",
        "--topic", topic, "--num-records", str(records), "--throughput", "-1",
        "--payload-file", str(payloads), "--payload-delimiter", "\n",
        "--producer-props", *[f"{k}={v}" for k, v in props.items()],
        *(["--producer.config", login] if login else []),
    ]  # fmt: skip


def producer_performance(
    settings: Settings,
    topics: Topics,
    csv: Path,
    rows: int,
    schema_id: int,
    records: int | None = None,
) -> dict:
    """ProducerPerformance sends ``records`` (default: all ``rows``) of our payloads."""
    payloads, avg = payload_file(csv, rows, schema_id)
    records = records or rows
    command = producer_performance_command(
        settings.bootstrap_servers, topics.new("perftool"), records, payloads, heap="1g"
    )
    cpu = cpu_seconds(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
    cpu = cpu_seconds(resource.RUSAGE_CHILDREN) - cpu  # the JVM's start included
    line = [x for x in proc.stdout.splitlines() if "records sent" in x][-1]
    eps = float(re.search(r"([\d.]+) records/sec", line).group(1))
    result = {"bench": "kafka_producer_performance", "events": records, "avg_record_bytes": avg,
              "eps": eps, "cpu_seconds": round(cpu, 3), "tool_line": line.strip()}  # fmt: skip
    print(json.dumps(result), flush=True)
    return result


def naive_baseline(settings: Settings, topics: Topics, csv: Path, rows: int) -> dict:
    """The prototype's way: pandas iterrows, json.dumps, flush every 200 messages."""
    import pandas as pd

    topic = topics.new("naive")
    producer = Producer(settings.kafka_config())
    start = time.perf_counter()
    df = pd.read_csv(csv)
    sent = 0
    for _, row in df.iterrows():
        event = row.where(pd.notnull(row), None).to_dict()
        event["event_time"] = utc_now_iso()
        producer.produce(topic, key=str(event["id"]), value=json.dumps(event, default=str))
        sent += 1
        if sent % 200 == 0:
            producer.flush()
    producer.flush()
    seconds = time.perf_counter() - start
    result = {"bench": "naive_baseline", "events": sent, "seconds": round(seconds, 3),
              "eps": round(sent / seconds, 1)}  # fmt: skip
    print(json.dumps(result), flush=True)
    return result




def peak_memory(settings: Settings, topics: Topics, csv: Path) -> dict:
    topic = topics.new("memory")
    command = [
        sys.executable,
        "-c",
        PEAK_RSS_WRAPPER,
        "produce",
        "--allow-any-path",
        "--csv",
        str(csv),
        "--topic",
        topic,
    ]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, timeout=1800, env=os.environ)
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr[-2000:]
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    peak_mb = int(re.search(r"PEAK_RSS_KB (\d+)", proc.stderr).group(1)) / 1024
    result = {"bench": "peak_memory", "rows": stats["sent"], "delivered": stats["delivered"],
              "peak_rss_mb": round(peak_mb, 1), "seconds": round(seconds, 1),
              "eps": stats["eps"]}  # fmt: skip
    print(json.dumps(result), flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the script")
    parser.add_argument(
        "--pairs", type=int, default=3, help="unthrottled runs of ours and the tool (median)"
    )
    args = parser.parse_args()
    settings = Settings.from_env()
    rows = 10_000 if args.quick else 100_000
    big_rows = 20_000 if args.quick else 1_000_000
    seconds = 1.0 if args.quick else 5.0
    topics = Topics(settings)
    try:
        csv = dataset(max(rows, int(50_000 * seconds)))
        small = dataset(rows)
        encoded = encoding(small)
        rates = rate_accuracy(settings, topics, csv, seconds)
        pairs = []  # (ours, tool) back to back: the tool's speed swings between minutes
        for _ in range(args.pairs):
            ours = ours_unthrottled(settings, topics, small, rows)
            tool = producer_performance(settings, topics, small, rows, ours["schema_id"])
            pairs.append((ours, tool))
            topics.cleanup()  # 2 x 390 MB per pair
        ours, tool = sorted(pairs, key=lambda pair: pair[0]["eps"] / pair[1]["eps"])[
            len(pairs) // 2
        ]
        # the tool's fixed CPU cost (JVM start, JIT, connecting), to compare CPU per event
        tool_start = producer_performance(
            settings, topics, small, rows, ours["schema_id"], records=1000
        )
        ours_python = ours_unthrottled(settings, topics, small, rows, encoding="off")
        naive = naive_baseline(settings, topics, small, rows)
        memory = peak_memory(settings, topics, dataset(big_rows))
    finally:
        topics.cleanup()
    summary = {
        "bench": "summary",
        "rate_ratios_worst": {
            rate: min(r["ratio"] for r in rates if r["target_eps"] == rate)
            for rate in sorted({r["target_eps"] for r in rates})
        },
        "ours_vs_producer_performance": round(ours["eps"] / tool["eps"], 3),
        "ours_vs_producer_performance_pairs": [round(o["eps"] / t["eps"], 3) for o, t in pairs],
        "ours_sending_only_vs_producer_performance": round(ours["sending_eps"] / tool["eps"], 3),
        "ours_python_encoding_vs_producer_performance": round(ours_python["eps"] / tool["eps"], 3),
        "speedup_vs_naive": round(ours["eps"] / naive["eps"], 2),
        "cpu_us_per_event": {
            "ours": [round(o["cpu_seconds"] / rows * 1e6, 1) for o, _ in pairs],
            "producer_performance_less_its_1000_record_run": [
                round((t["cpu_seconds"] - tool_start["cpu_seconds"]) / (rows - 1000) * 1e6, 1)
                for _, t in pairs
            ],
        },
        "peak_rss_mb_1m_rows": memory["peak_rss_mb"],
        "encoding_us_per_event": {
            "python": encoded["python_us_per_event"],
            "native": encoded["native_us_per_event"],
        },
    }
    print(json.dumps(summary), flush=True)
    print("\n| measurement | value |\n|---|---|")
    for r in rates:
        print(f"| rate {r['target_eps']:,} eps, {r['events']:,} events | achieved "
              f"{r['achieved_eps']:,} eps, ratio {r['ratio']:.4f} (incl. final flush "
              f"{r['ratio_incl_final_flush']:.4f}) |")  # fmt: skip
    for o, t in pairs:
        print(f"| pair: loanstream {o['eps']:,} eps ({o['cpu_seconds']} CPU s), "
              f"ProducerPerformance {t['eps']:,} eps ({t['cpu_seconds']} CPU s) | "
              f"ratio {o['eps'] / t['eps']:.3f} |")  # fmt: skip
    cpu = summary["cpu_us_per_event"]
    print(f"| CPU µs per event: loanstream | {cpu['ours']} |")
    print(f"| CPU µs per event: ProducerPerformance, less its fixed cost "
          f"({tool_start['cpu_seconds']} CPU s for 1,000 records) | "
          f"{cpu['producer_performance_less_its_1000_record_run']} |")  # fmt: skip
    print(f"| unthrottled, {rows:,} rows: loanstream (until every event is acknowledged) | "
          f"{ours['eps']:,} eps (sending only: {ours['sending_eps']:,}) |")  # fmt: skip
    print(f"| the same with the Python encoder (`LOANSTREAM_NATIVE_ENCODING=off`) | "
          f"{ours_python['eps']:,} eps |")  # fmt: skip
    print(f"| same rows/payloads: Kafka ProducerPerformance | {tool['eps']:,} eps "
          f"(avg record {tool['avg_record_bytes']} B) |")  # fmt: skip
    print(f"| ratio loanstream / ProducerPerformance (median pair) | "
          f"{summary['ours_vs_producer_performance']} |")  # fmt: skip
    print(f"| naive prototype-style baseline | {naive['eps']:,} eps |")
    print(f"| speed-up over naive | {summary['speedup_vs_naive']}x |")
    print(f"| peak RSS, {memory['rows']:,}-row CSV | {memory['peak_rss_mb']} MB |")
    print(f"| CSV -> event bodies, {encoded['events']:,} rows, no Kafka | Python "
          f"{encoded['python_us_per_event']} µs/event, native "
          f"{encoded['native_us_per_event']} µs/event |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
