"""Sink benchmarks, side by side in one run, on the Kafka and Postgres `make up` started.

    scripts/env.sh .venv/bin/python bench/bench_sink.py [--quick] [--rounds N] [--breakdown-only]

100,000 events of the generated sample (seed 42) are produced to a fresh 3-partition topic
(not timed), then, in each of ``--rounds`` rounds (default 3):

(a) our sink in one process, all partitions: events/s from the first poll to the last
    committed transaction (``ScoringSink._loop``), into an isolated Postgres schema, with the
    native (Rust) scorer, as deployed;
(b) our sink as the DAG runs it: three ``python -m loanstream.cli consume --partition P``
    processes in parallel, one per partition, on another isolated schema: wall time from
    spawning them to all exited (every transaction committed), process start-up included;
(c) baseline: the rows the sink stored in (a), ``COPY ... TO STDOUT`` into memory, then timed
    ``COPY identical_table FROM STDIN`` (+ commit) into a fresh
    ``CREATE TABLE ... (LIKE risk_decisions INCLUDING ALL)`` (the one table the sink writes,
    with its indexes): rows/s, best of 3.

The ratios (a)/(c) and (b)/(c) of each round, and their median over the rounds, are issue 24's
targets (>= 0.6 and >= 0.45, every decision kept). Once: (a) with Python scoring only, the
storage layouts issue 24 weighed (``bench_storage``: COPY rates of each, and reads of current
state), and an in-process per-stage breakdown in µs/event (JSON parse, preprocess, rules,
whole ``score_message``, the native scorer, DB write), best of several passes over events
pre-serialised in memory.

Prints one JSON object per measurement, then markdown tables.
"""

from __future__ import annotations

import argparse
import inspect
import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import orjson
import psycopg2
from confluent_kafka import Message

from loanstream.config import Settings
from loanstream.kafka.topics import ensure_topic
from loanstream.produce.events import finish_event, iter_event_batches, utc_now_iso
from loanstream.produce.producer import EventProducer
from loanstream.scoring import apply_rules, load_rules, preprocess_event
from loanstream.scoring.native import load_batch_scorer
from loanstream.sink import COPY_SQL, ROW_COLUMNS, ScoringSink, csv_lines, score_message

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import bench_storage  # noqa: E402
from bench.bench_producer import dataset  # noqa: E402
from tests.helpers import temp_schema  # noqa: E402
from tests.resources import delete_named, delete_subjects, unique_name  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PARTITIONS = 3


def emit(result: dict) -> dict:
    print(json.dumps(result), flush=True)
    return result


# -- in-process breakdown -------------------------------------------------------------------


def serialised_events(csv_path: Path, rows: int) -> list[bytes]:
    """The typed events (the JSON after the framing header: what the sink parses)."""
    values = []
    for batch in iter_event_batches(csv_path, max_events=rows, typed=True):
        values.extend(finish_event(body, utc_now_iso()) for body in batch.bodies)
    return values


def _best(fn, passes: int, clock=time.process_time) -> tuple[float, float]:
    """(best, median) seconds of ``passes`` calls of ``fn`` by ``clock``.

    In-process stages use CPU time of this process, which other load on the machine inflates
    far less than wall time does.
    """
    times = []
    for _ in range(passes):
        start = clock()
        fn()
        times.append(clock() - start)
    return min(times), statistics.median(times)


def _each(fn, items: list) -> None:
    for item in items:  # results are dropped at once, as in the sink
        fn(item)


def breakdown(values: list[bytes], dsn: str | None, passes: int = 7) -> dict:
    """CPU µs/event of each stage of the sink's per-event work, events already in memory."""
    rules = load_rules()
    n = len(values)
    events = [orjson.loads(v) for v in values]
    features = [preprocess_event(e) for e in events]
    messages = [
        Message(topic="bench", partition=i % PARTITIONS, offset=i, key=b"k", value=v,
                headers=[("run_id", b"bench-run")])
        for i, v in enumerate(values)
    ]  # fmt: skip
    # as the sink calls it when not republishing (older sink versions have no such keyword)
    kwargs = {"payload": False} if "payload" in inspect.signature(score_message).parameters else {}
    stages = {
        "json_parse": lambda: _each(orjson.loads, values),
        "preprocess": lambda: _each(preprocess_event, events),
        "rules": lambda: _each(lambda f: apply_rules(f, rules), features),
        "score_message": lambda: _each(lambda m: score_message(m, rules, **kwargs), messages),
    }
    scorer, _ = load_batch_scorer(rules, "on")
    batches = [messages[i : i + 2000] for i in range(0, n, 2000)]
    stages["native_score"] = lambda: _each(scorer.score, batches)  # per 2,000-event batch
    result: dict = {"bench": "breakdown_us_per_event", "events": n, "passes": passes,
                    "clock": "process CPU time; db_write wall time"}  # fmt: skip
    for name, fn in stages.items():
        best, median = _best(fn, passes)
        result[name] = round(best / n * 1e6, 2)
        result[f"{name}_median"] = round(median / n * 1e6, 2)
    if dsn is not None:
        rows = [r[0] for r in (score_message(m, rules) for m in messages) if not isinstance(r, str)]
        best, median = _best(lambda: _db_write(dsn, rows), 3, time.perf_counter)
        result["db_write"] = round(best / len(rows) * 1e6, 2)
        result["db_write_median"] = round(median / len(rows) * 1e6, 2)
    return emit(result)


def _db_write(dsn: str, rows: list[tuple], batch: int = 2000) -> None:
    """The sink's per-batch database work: CSV, COPY into risk_decisions, commit."""
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("TRUNCATE risk_decisions")
        for i in range(0, len(rows), batch):
            with conn, conn.cursor() as cur:
                cur.copy_expert(COPY_SQL, io.StringIO(csv_lines(rows[i : i + batch])))
    finally:
        conn.close()


# -- end to end -----------------------------------------------------------------------------


class TimedSink(ScoringSink):
    """Records the time from the first poll to the last committed transaction."""

    loop_seconds = 0.0

    def _loop(self, *args, **kwargs) -> None:
        start = time.perf_counter()
        try:
            super()._loop(*args, **kwargs)
        finally:
            self.loop_seconds = time.perf_counter() - start


def new_topic(settings: Settings, made: list[str]) -> str:
    topic = unique_name("bench_sink")
    ensure_topic(settings.kafka_config(), topic, partitions=PARTITIONS, use_rpk=False)
    made.append(topic)
    return topic


def sink_one_process(
    settings: Settings,
    topic: str,
    dsn: str,
    rows: int,
    native: str = "on",
    label: str = "",
) -> dict:
    sink = TimedSink(settings.kafka_config(), dsn, topic, group=unique_name("bench"), native=native)
    stats = sink.run(idle_timeout=30)
    assert stats.scored + stats.dead_lettered == rows, stats.to_dict()
    name = "a_sink_one_process" if native == "on" else "a_sink_one_process_python"
    name += f"_{label}" if label else ""
    return emit({"bench": name, "events": stats.consumed, "scored": stats.scored,
                 "scored_natively": stats.scored_natively,
                 "dead_lettered": stats.dead_lettered, "batches": stats.batches,
                 "stored": stats.stored,
                 "seconds_first_poll_to_last_commit": round(sink.loop_seconds, 3),
                 "seconds_run_total": round(stats.seconds, 3),
                 "eps": round(stats.consumed / sink.loop_seconds, 1)})  # fmt: skip


def produce_untyped(settings: Settings, topic: str, csv_path: Path) -> int:
    """The rows as producers sent them before the contract: every column as text, unframed."""
    from confluent_kafka import Producer

    producer = Producer(settings.kafka_config(**{"linger.ms": 5, "compression.type": "lz4",
                                                 "partitioner": "murmur2_random"}))  # fmt: skip
    sent = 0
    for batch in iter_event_batches(csv_path):
        for key, body in zip(batch.keys, batch.bodies, strict=True):
            while True:
                try:
                    producer.produce(topic, key=key, value=finish_event(body, utc_now_iso()),
                                     headers=[("run_id", b"bench-untyped")])  # fmt: skip
                    break
                except BufferError:
                    producer.poll(0.05)
            sent += 1
    assert producer.flush(120) == 0
    return sent


def typed_against_untyped(settings: Settings, topics: tuple[str, str], rows: int) -> dict:
    """(a) on the typed, framed events and on the same rows untyped and unframed (what the
    topics held before the contract), back to back, each in a fresh schema: their ratio."""
    typed_topic, untyped_topic = topics
    with temp_schema(settings) as dsn_t, temp_schema(settings) as dsn_u:
        untyped = sink_one_process(settings, untyped_topic, dsn_u, rows, label="untyped")
        typed = sink_one_process(settings, typed_topic, dsn_t, rows, label="typed")
    return emit({"bench": "typed_vs_untyped", "typed_eps": typed["eps"],
                 "untyped_eps": untyped["eps"],
                 "typed_over_untyped": round(typed["eps"] / untyped["eps"], 3)})  # fmt: skip


def sink_three_processes(settings: Settings, topic: str, dsn: str, rows: int) -> dict:
    env = {**os.environ, "LOANSTREAM_PG_DSN": dsn, "LOANSTREAM_NATIVE_SCORING": "on"}
    group = unique_name("bench")
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "loanstream.cli",
                "consume",
                "--partition",
                str(p),
                "--topic",
                topic,
                "--group",
                group,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )  # fmt: skip
        for p in range(PARTITIONS)
    ]
    outputs = [proc.communicate(timeout=900) for proc in procs]
    wall = time.perf_counter() - start
    stats = []
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-2000:]
        stats.append(json.loads(out.strip().splitlines()[-1]))
    consumed = sum(s["consumed"] for s in stats)
    assert consumed == rows, stats
    return emit({"bench": "b_sink_three_processes", "events": consumed,
                 "scored": sum(s["scored"] for s in stats),
                 "wall_seconds": round(wall, 3),
                 "process_run_seconds": [s["seconds"] for s in stats],
                 "eps": round(consumed / wall, 1),
                 "eps_excluding_startup": round(consumed / max(s["seconds"] for s in stats), 1)})  # fmt: skip


def plain_copy(dsn: str, passes: int = 3) -> dict:
    """COPY the rows (a) stored, from memory, into a fresh table like the one the sink writes
    (``risk_decisions``, all its indexes), in one transaction: rows/s, best of ``passes``."""
    cols = ", ".join(ROW_COLUMNS)
    data = "".join(bench_storage.stored_rows(dsn))
    rows = data.count("\n")  # csv of these columns has no embedded newlines
    conn = psycopg2.connect(dsn)
    times = []
    try:
        for i in range(passes):
            with conn, conn.cursor() as cur:
                cur.execute(f"CREATE TABLE baseline_{i} (LIKE risk_decisions INCLUDING ALL)")
            start = time.perf_counter()
            with conn, conn.cursor() as cur:
                cur.copy_expert(f"COPY baseline_{i} ({cols}) FROM STDIN WITH (FORMAT csv)",
                                io.StringIO(data))  # fmt: skip
            times.append(time.perf_counter() - start)
            with conn, conn.cursor() as cur:
                cur.execute(f"SELECT count(*) FROM baseline_{i}")  # noqa: S608
                (count,) = cur.fetchone()
                assert count == rows, (count, rows)
                cur.execute(f"DROP TABLE baseline_{i}")
    finally:
        conn.close()
    best = min(times)
    return emit({"bench": "c_plain_copy", "rows": rows, "bytes": len(data),
                 "seconds": [round(t, 3) for t in times], "rows_per_s": round(rows / best, 1),
                 "rows_per_s_median": round(rows / statistics.median(times), 1)})  # fmt: skip


def load_average() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()


def one_round(settings: Settings, topic: str, rows: int, index: int) -> dict:
    """(a), (b) and (c) once, each in fresh schemas; the round's ratios."""
    with temp_schema(settings) as dsn_a, temp_schema(settings) as dsn_b:
        a = sink_one_process(settings, topic, dsn_a, rows)
        b = sink_three_processes(settings, topic, dsn_b, rows)
        c = plain_copy(dsn_a)
    return emit({
        "bench": "round", "round": index, "a_eps": a["eps"], "b_eps": b["eps"],
        "c_rows_per_s": c["rows_per_s"], "a_over_c": round(a["eps"] / c["rows_per_s"], 3),
        "b_over_c": round(b["eps"] / c["rows_per_s"], 3),
        "b_excl_startup_over_c": round(b["eps_excluding_startup"] / c["rows_per_s"], 3),
    })  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 events, to check the script")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of (a), (b), (c)")
    parser.add_argument("--breakdown-only", action="store_true", help="in-process stages only")
    args = parser.parse_args()
    settings = Settings.from_env()
    rows = 10_000 if args.quick else 100_000
    csv_path = dataset(rows)
    emit({"bench": "machine", "cores": os.cpu_count(), "loadavg_before": load_average()})
    values = serialised_events(csv_path, min(rows, 20_000))
    if args.breakdown_only:
        with temp_schema(settings) as dsn:
            breakdown(values, dsn)
        emit({"bench": "machine", "loadavg_after": load_average()})
        return 0

    try:
        topic = new_topic(settings, [])
        produced = EventProducer(settings.kafka_config(), topic).produce_csv(csv_path, run_id="bench")
        assert produced.delivered == rows, produced
        rounds = [one_round(settings, topic, rows, i + 1) for i in range(args.rounds)]
        untyped_topic = new_topic(settings, [])
        assert produce_untyped(settings, untyped_topic, csv_path) == rows
        contract = [
            typed_against_untyped(settings, (topic, untyped_topic), rows) for _ in range(args.rounds)
        ]
        with temp_schema(settings) as dsn_p:
            a_python = sink_one_process(settings, topic, dsn_p, rows, native="off")
            c_python = plain_copy(dsn_p)
            storage = emit(bench_storage.layouts(dsn_p, bench_storage.stored_rows(dsn_p)))
            reads = emit(bench_storage.reads(dsn_p))
            parts = breakdown(values, dsn_p)
    finally:  # topics and consumer groups this run named (schemas: temp_schema drops them)
        found = delete_named(settings)
        delete_subjects(settings.schema_registry_url, found.get("topics", []))
    after = emit({"bench": "machine", "loadavg_after": load_average()})
    median = {k: statistics.median(r[k] for r in rounds)
              for k in ("a_eps", "b_eps", "c_rows_per_s", "a_over_c", "b_over_c",
                        "b_excl_startup_over_c")}  # fmt: skip
    summary = emit({
        "bench": "summary", "rounds": len(rounds),
        "a_over_c_median": median["a_over_c"], "b_over_c_median": median["b_over_c"],
        "a_over_c_each": [r["a_over_c"] for r in rounds],
        "b_over_c_each": [r["b_over_c"] for r in rounds],
        "a_python_over_c": round(a_python["eps"] / c_python["rows_per_s"], 3),
        "typed_over_untyped_each": [r["typed_over_untyped"] for r in contract],
        "typed_over_untyped_median": statistics.median(r["typed_over_untyped"] for r in contract),
        "targets": {"a_over_c": 0.6, "b_over_c": 0.45},
        "met": median["a_over_c"] >= 0.6 and median["b_over_c"] >= 0.45,
    })  # fmt: skip
    print(f"\n{rows:,} events, {os.cpu_count()} cores, load {after['loadavg_after']}, "
          f"{len(rounds)} rounds\n")  # fmt: skip
    print("| round | (a) sink, 1 process | (b) 3 processes (DAG), wall | (c) plain COPY | "
          "**(a) ÷ (c)** | **(b) ÷ (c)** | (b) without start-up ÷ (c) |\n|---|---:|---:|---:|---:|---:|---:|")
    for r in [*rounds, {"round": "median", **median}]:
        print(f"| {r['round']} | {r['a_eps']:,.0f} events/s | {r['b_eps']:,.0f} events/s | "
              f"{r['c_rows_per_s']:,.0f} rows/s | **{r['a_over_c']}** | **{r['b_over_c']}** | "
              f"{r['b_excl_startup_over_c']} |")  # fmt: skip
    print(f"\n(a) with Python scoring only ÷ (c): {summary['a_python_over_c']}; targets "
          f"(a) >= 0.6, (b) >= 0.45: {'met' if summary['met'] else 'NOT met'}")  # fmt: skip
    print(f"\n(a) on typed, framed events ÷ (a) on the same rows untyped (before the contract), "
          f"back to back: {summary['typed_over_untyped_each']}, median "
          f"**{summary['typed_over_untyped_median']}**")  # fmt: skip
    print("\n| storage layout (COPY, batches of 2,000) | rows/s | ÷ `view` (the one chosen) |"
          "\n|---|---:|---:|")  # fmt: skip
    for layout in ("view", "two_tables", "partitioned", "probe"):
        print(f"| {layout} | {storage[f'{layout}_rows_per_s']:,.0f} | {storage[f'{layout}_over_view']} |")
    print(f"\nCurrent state from the view ({reads['current_decisions']:,} loans): one loan "
          f"{reads['one_loan_ms']} ms, one run {reads['one_run_ms']} ms, all "
          f"{reads['all_current_ms']} ms")  # fmt: skip
    print("\n| stage | µs/event (best of passes) |\n|---|---|")
    for name in ("json_parse", "preprocess", "rules", "score_message", "native_score", "db_write"):
        print(f"| {name} | {parts[name]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
