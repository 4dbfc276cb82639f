"""Sink benchmarks, side by side in one run, on the Kafka and Postgres `make up` started.

    scripts/env.sh .venv/bin/python bench/bench_sink.py [--quick] [--breakdown-only]

100,000 events of the generated sample (seed 42) are produced to a fresh 3-partition topic
(not timed), then:

(a) our sink in one process, all partitions: events/s from the first poll to the last
    committed transaction (``ScoringSink._loop``), into an isolated Postgres schema; with the
    native (Rust) scorer, as deployed, and again with ``native="off"`` (Python only);
(b) our sink as the DAG runs it: three ``python -m loanstream.cli consume --partition P``
    processes in parallel, one per partition, on another isolated schema: wall time from
    spawning them to all exited (every transaction committed), process start-up included;
(a') the same as (a), on the same rows produced the way producers did before the contract
    (untyped JSON with every column, unframed: what the topics' retention still holds), to
    hold the typed, framed events to the speed of the untyped ones;
(c) baseline: the rows the sink stored in (a), ``COPY ... TO STDOUT`` into memory, then timed
    ``COPY identical_table FROM STDIN`` (+ commit) into a fresh
    ``CREATE TABLE ... (LIKE risk_scored INCLUDING ALL)``: rows/s.

Ratios (a)/(c) and (b)/(c) are the issue-4 speed target (>= 0.5). Also an in-process
per-stage breakdown in µs/event (JSON parse, preprocess, rules, whole ``score_message``, the
native scorer, DB write), best of several passes over events pre-serialised in memory.

Prints one JSON object per measurement, then a markdown table.
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
from loanstream.sink import (
    COPY_SQL,
    DIRECT_COPY_SQL,
    ROW_COLUMNS,
    STAGE_SQL,
    UPSERT_SQL,
    ScoringSink,
    csv_lines,
    score_message,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
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
        best, median = _best(lambda: _db_write(dsn, rows, direct=True), 3, time.perf_counter)
        result["db_write_direct"] = round(best / len(rows) * 1e6, 2)
        result["db_write_direct_median"] = round(median / len(rows) * 1e6, 2)
    return emit(result)


def _db_write(dsn: str, rows: list[tuple], batch: int = 2000, direct: bool = False) -> None:
    """The sink's per-batch database work: CSV, then COPY into the stage + upsert (replays),
    or with ``direct`` COPY into risk_scored (new loans), then commit."""
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("TRUNCATE risk_scored")
            cur.execute(STAGE_SQL)
        for i in range(0, len(rows), batch):
            with conn, conn.cursor() as cur:
                buffer = io.StringIO(csv_lines(rows[i : i + batch]))
                if direct:
                    cur.copy_expert(DIRECT_COPY_SQL, buffer)
                    continue
                cur.copy_expert(COPY_SQL, buffer)
                cur.execute(UPSERT_SQL)
                cur.fetchall()
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
    keep_decisions: bool = True,
    label: str = "",
) -> dict:
    sink = TimedSink(settings.kafka_config(), dsn, topic, group=unique_name("bench"), native=native,
                     keep_decisions=keep_decisions)  # fmt: skip
    stats = sink.run(idle_timeout=30)
    assert stats.scored + stats.dead_lettered == rows, stats.to_dict()
    name = "a_sink_one_process" if native == "on" else "a_sink_one_process_python"
    if not keep_decisions:
        name += "_without_risk_decisions"
    if label:
        name += f"_{label}"
    return emit({"bench": name, "events": stats.consumed, "scored": stats.scored,
                 "scored_natively": stats.scored_natively,
                 "dead_lettered": stats.dead_lettered, "batches": stats.batches,
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


def plain_copy(dsn: str, passes: int = 3, tables: tuple[str, ...] = ("risk_scored",)) -> dict:
    """COPY the rows (a) stored, from memory, into fresh identical ``tables`` (each of them, in
    one transaction, as the sink writes them): rows/s."""
    cols = ", ".join(ROW_COLUMNS)
    conn = psycopg2.connect(dsn)
    try:
        buffer = io.StringIO()
        with conn, conn.cursor() as cur:
            cur.copy_expert(
                f"COPY (SELECT {cols} FROM risk_scored) TO STDOUT WITH (FORMAT csv)",  # noqa: S608
                buffer,
            )
        data = buffer.getvalue()
        rows = data.count("\n")  # csv of these columns has no embedded newlines
        times = []
        for i in range(passes):
            with conn, conn.cursor() as cur:
                for table in tables:
                    cur.execute(f"CREATE TABLE baseline_{table}_{i} (LIKE {table} INCLUDING ALL)")
            start = time.perf_counter()
            with conn, conn.cursor() as cur:
                for table in tables:
                    cur.copy_expert(
                        f"COPY baseline_{table}_{i} ({cols}) FROM STDIN WITH (FORMAT csv)",
                        io.StringIO(data),
                    )
            times.append(time.perf_counter() - start)
            with conn, conn.cursor() as cur:
                for table in tables:
                    cur.execute(f"SELECT count(*) FROM baseline_{table}_{i}")  # noqa: S608
                    (count,) = cur.fetchone()
                    assert count == rows, (count, rows)
                    cur.execute(f"DROP TABLE baseline_{table}_{i}")
    finally:
        conn.close()
    best = min(times)
    name = "c_plain_copy" if tables == ("risk_scored",) else "c2_plain_copy_" + "_and_".join(tables)
    return emit({"bench": name, "rows": rows, "bytes": len(data),
                 "seconds": [round(t, 3) for t in times], "rows_per_s": round(rows / best, 1),
                 "rows_per_s_median": round(rows / statistics.median(times), 1)})  # fmt: skip


def load_average() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 events, to check the script")
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

    made: list[str] = []
    try:
        topic = new_topic(settings, made)
        produced = EventProducer(settings.kafka_config(), topic).produce_csv(csv_path)
        assert produced.delivered == rows, produced
        untyped_topic = new_topic(settings, made)
        assert produce_untyped(settings, untyped_topic, csv_path) == rows
        with (
            temp_schema(settings) as dsn_a,
            temp_schema(settings) as dsn_b,
            temp_schema(settings) as dsn_p,
            temp_schema(settings) as dsn_n,
            temp_schema(settings) as dsn_u,
        ):
            # the same rows as untyped events (before the contract) and typed, framed ones
            a_untyped = sink_one_process(settings, untyped_topic, dsn_u, rows, label="untyped")
            # without the risk_decisions write first, then as deployed: what keeping every
            # decision costs, side by side (issue 13)
            a_no_decisions = sink_one_process(settings, topic, dsn_n, rows, keep_decisions=False)
            a = sink_one_process(settings, topic, dsn_a, rows)
            a_python = sink_one_process(settings, topic, dsn_p, rows, native="off")
            b = sink_three_processes(settings, topic, dsn_b, rows)
            c = plain_copy(dsn_a)
            c2 = plain_copy(dsn_a, tables=("risk_scored", "risk_decisions"))
            parts = breakdown(values, dsn_b)
    finally:  # topics and consumer groups this run named (schemas: temp_schema drops them)
        delete_named(settings)
        delete_subjects(settings.schema_registry_url, made)
    after = emit({"bench": "machine", "loadavg_after": load_average()})
    summary = emit({
        "bench": "summary",
        "a_over_c": round(a["eps"] / c["rows_per_s"], 3),
        "a_untyped_over_c": round(a_untyped["eps"] / c["rows_per_s"], 3),
        "a_typed_over_a_untyped": round(a["eps"] / a_untyped["eps"], 3),
        "a_without_risk_decisions_over_c": round(a_no_decisions["eps"] / c["rows_per_s"], 3),
        "a_over_c2_both_tables": round(a["eps"] / c2["rows_per_s"], 3),
        "a_python_over_c": round(a_python["eps"] / c["rows_per_s"], 3),
        "b_over_c": round(b["eps"] / c["rows_per_s"], 3),
        "b_excl_startup_over_c": round(b["eps_excluding_startup"] / c["rows_per_s"], 3),
        "target": 0.5,
    })  # fmt: skip
    print(f"\n{rows:,} events, {os.cpu_count()} cores, load {after['loadavg_after']}\n")
    print("| measurement | value | ratio to (c) |\n|---|---|---|")
    print(f"| (a) sink, 1 process, {PARTITIONS} partitions | {a['eps']:,.0f} events/s "
          f"({a['seconds_first_poll_to_last_commit']} s) | **{summary['a_over_c']}** |")  # fmt: skip
    print(f"| (a') the same rows as untyped, unframed events (before the contract) | "
          f"{a_untyped['eps']:,.0f} events/s | {summary['a_untyped_over_c']} (typed ÷ untyped: "
          f"**{summary['a_typed_over_a_untyped']}**) |")  # fmt: skip
    print(f"| (a) the same without the `risk_decisions` write | {a_no_decisions['eps']:,.0f} "
          f"events/s ({a_no_decisions['seconds_first_poll_to_last_commit']} s) | "
          f"{summary['a_without_risk_decisions_over_c']} |")  # fmt: skip
    print(f"| (a) the same, Python scoring only (`native=off`) | {a_python['eps']:,.0f} events/s "
          f"({a_python['seconds_first_poll_to_last_commit']} s) | {summary['a_python_over_c']} |")  # fmt: skip
    print(f"| (b) sink, {PARTITIONS} processes (DAG), wall incl. start-up | {b['eps']:,.0f} events/s "
          f"({b['wall_seconds']} s) | **{summary['b_over_c']}** |")  # fmt: skip
    print(f"| (b) excluding process start-up | {b['eps_excluding_startup']:,.0f} events/s | "
          f"{summary['b_excl_startup_over_c']} |")  # fmt: skip
    print(f"| (c) plain COPY of the same {c['rows']:,} rows | {c['rows_per_s']:,.0f} rows/s | 1 |")
    print(f"| (c2) plain COPY of the same rows into both tables the sink writes (`risk_scored`, "
          f"`risk_decisions`), one transaction | {c2['rows_per_s']:,.0f} rows/s | (a) ÷ (c2) = "
          f"**{summary['a_over_c2_both_tables']}** |")  # fmt: skip
    print("\n| stage | µs/event (best of passes) |\n|---|---|")
    for name in ("json_parse", "preprocess", "rules", "score_message", "native_score",
                 "db_write", "db_write_direct"):  # fmt: skip
        print(f"| {name} | {parts[name]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
