"""End-to-end latency of the stream: ``scored_at - event_time``, from Postgres.

    scripts/env.sh .venv/bin/python bench/bench_latency.py [--quick] [--only dag|cli] [--runs N]

For each rate (6,000 events at 200 events/s and 100,000 at 5,000 events/s; ``--quick``: 1,000
at 200 and 10,000 at 5,000):

* **DAG**: ``loan_stream_pipeline`` triggered over the REST API (the producer and the
  consumer tasks run side by side);
* **CLI pair**: ``loanstream consume --follow`` started first, then ``loanstream produce``,
  as the prototype's users ran them (into a private Postgres schema).

Each run reports p50/p95/p99/max of the latency over the whole run, and in steady state
(events whose ``event_time`` is after the run's first stored row, i.e. once the consumers
are live), plus the start-up lag (how long the run's first event waited). The target is a
steady-state p99 of at most 15 ms at 200 events/s and 50 ms at 5,000 events/s, in the DAG
(issue 24), as the median of ``--runs`` runs (default 3) of each. Each run also prints where
a batch's time went, from the consumers' own clocks (``loanstream.sink.timings``: Kafka,
waiting for the writer, COPY, commit; p50/p99 over the batches, the worst consumer's), read
from the ``score_events`` XComs or the CLI consumer's JSON line. The last line is a JSON object
with the figures per mode and rate. Topics made here are deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import psycopg2  # noqa: E402
from airflow_api import Airflow, DagRunner  # noqa: E402
from bench_producer import landed_dataset  # noqa: E402

from devstack.envfile import load as load_env  # noqa: E402
from loanstream.config import Settings  # noqa: E402
from tests.helpers import temp_schema  # noqa: E402
from tests.resources import delete_groups, delete_topics, unique_name  # noqa: E402

DAG_ID = "loan_stream_pipeline"
TARGET_P99_MS = {200: 15.0, 5_000: 50.0}  # steady state, DAG, median of the runs
STAGES = ("kafka", "to_writer", "copy", "commit")
RATES = ((6_000, 200), (100_000, 5_000))
QUICK_RATES = ((1_000, 200), (10_000, 5_000))

def latency(dsn: str, run_id: str) -> dict:
    """Percentiles of ``scored_at - event_time`` for the run's rows (computed here, in ms)."""
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT EXTRACT(EPOCH FROM event_time)::float8, EXTRACT(EPOCH FROM scored_at)::float8 "
            "FROM risk_decisions WHERE run_id = %s",
            (run_id,),
        )
        rows = cur.fetchall()
    conn.close()
    if not rows:
        return {"rows": 0}
    event = np.array([r[0] for r in rows])
    scored = np.array([r[1] for r in rows])
    ms = (scored - event) * 1000
    live = event > scored.min()  # sent once the run's first row was stored: consumers live

    def pct(values: np.ndarray) -> dict:
        if not len(values):
            return {"p50": None, "p95": None, "p99": None, "max": None}
        p50, p95, p99 = np.percentile(values, [50, 95, 99])
        return {"p50": _ms(p50), "p95": _ms(p95), "p99": _ms(p99), "max": _ms(values.max())}

    return {
        "rows": len(rows),
        "whole_run_ms": pct(ms),
        "steady_state_events": int(live.sum()),
        "steady_state_ms": pct(ms[live]),
        "startup_lag_ms": _ms(ms[event.argmin()]),
    }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


def stage_breakdown(consumers: list[dict]) -> dict:
    """The consumers' per-batch stage times (``stage_ms``): per stage the worst p50/p99."""
    found: dict = {}
    for stats in consumers:
        for stage, values in (stats or {}).get("stage_ms", {}).items():
            kept = found.setdefault(stage, {"p50": 0.0, "p99": 0.0})
            kept["p50"] = max(kept["p50"], values["p50"])
            kept["p99"] = max(kept["p99"], values["p99"])
    return found


def dag_run(runner: DagRunner, settings: Settings, csv: Path, events: int, rate: int) -> dict:
    topic = unique_name("bench_latency")
    conf = {"csv_path": str(csv), "rate": rate, "max_events": events, "topic": topic}
    started = time.monotonic()
    run_id = runner.trigger(DAG_ID, conf)
    try:
        state = runner.wait(DAG_ID, run_id, timeout=3600)
    finally:  # waits for the broker (a dropped AdminClient never sends the deletion)
        delete_topics(settings.kafka_config(), [topic])
    producer = runner.xcom(DAG_ID, run_id, "produce_events") or {}
    consumers = [runner.xcom(DAG_ID, run_id, "score_events", i) for i in range(3)]
    result = {
        "mode": "dag",
        "events": events,
        "rate": rate,
        "state": state,
        "run_seconds": round(time.monotonic() - started, 1),
        "producer_eps": producer.get("eps"),
        "producer_waited_for_consumers_s": producer.get("waited_for_consumers_seconds"),
        **latency(settings.pg_dsn, run_id),
        "stages_ms": stage_breakdown(consumers),
    }
    print(json.dumps(result), flush=True)
    return result


def cli_pair(settings: Settings, csv: Path, events: int, rate: int) -> dict:
    """``consume --follow`` first, then ``produce``; latency from a private schema."""
    topic = unique_name("bench_latency_cli")
    run_id = f"bench_cli_{uuid.uuid4().hex[:8]}"
    group = unique_name("g_bench_cli")
    cli = [sys.executable, "-m", "loanstream.cli"]
    with temp_schema(settings) as dsn:
        env = {**os.environ, "LOANSTREAM_PG_DSN": dsn}
        try:
            subprocess.run([*cli, "topic", "create", "--topic", topic], env=env, check=True,
                           capture_output=True)  # fmt: skip
            consumer = subprocess.Popen(
                [*cli, "consume", "--follow", "--topic", topic, "--group", group],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            time.sleep(3)  # the consumer is assigned and polling
            started = time.monotonic()
            subprocess.run(
                [*cli, "produce", "--csv", str(csv), "--rate", str(rate), "--max", str(events),
                 "--topic", topic, "--run-id", run_id],
                env=env, check=True, capture_output=True,
            )  # fmt: skip
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
                    cur.execute("SELECT count(*) FROM risk_decisions WHERE run_id = %s", (run_id,))
                    (stored,) = cur.fetchone()
                conn.close()
                if stored >= events:
                    break
                time.sleep(0.2)
            seconds = time.monotonic() - started
            consumer.send_signal(signal.SIGINT)  # finishes the batch in flight and reports
            out, _err = consumer.communicate(timeout=60)
            stats = json.loads(out.strip().splitlines()[-1])
            result = {
                "mode": "cli",
                "events": events,
                "rate": rate,
                "state": "success" if stored == events else f"stored {stored}",
                "run_seconds": round(seconds, 1),
                "consumer_stopped_by": stats.get("stopped_by"),
                "consumer_batches": stats.get("batches"),
                **latency(dsn, run_id),
                "stages_ms": stage_breakdown([stats]),
            }
        finally:
            delete_groups(settings.kafka_config(), [group])
            delete_topics(settings.kafka_config(), [topic])
    print(json.dumps(result), flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke check)")
    parser.add_argument("--only", choices=("dag", "cli"), default=None)
    parser.add_argument("--runs", type=int, default=3, help="runs of each mode and rate")
    args = parser.parse_args()
    load_env()
    settings = Settings.from_env()
    rates = QUICK_RATES if args.quick else RATES
    results = []
    # Dag runs and the CLI read CSVs only from the data directories: the landing directory
    with landed_dataset(max(events for events, _ in rates)) as csv:
        for _ in range(args.runs):
            if args.only in (None, "dag"):
                api = Airflow(os.environ["LOANSTREAM_AIRFLOW_URL"])
                api.login("admin", os.environ["LOANSTREAM_AIRFLOW_ADMIN_PASSWORD"])
                runner = DagRunner(api)
                results += [dag_run(runner, settings, csv, events, rate) for events, rate in rates]
            if args.only in (None, "cli"):
                results += [cli_pair(settings, csv, events, rate) for events, rate in rates]
    print("\n| mode | events @ rate | whole run p50 / p95 / p99 / max (ms) | steady state "
          "p50 / p95 / p99 / max (ms) | start-up lag (ms) | per batch p99 (ms): kafka / "
          "to writer / copy / commit |\n|---|---|---|---|---:|---|")  # fmt: skip
    for r in results:
        w, s, t = r["whole_run_ms"], r["steady_state_ms"], r["stages_ms"]
        stages = " / ".join(str(t.get(k, {}).get("p99")) for k in STAGES)
        print(f"| {r['mode']} | {r['events']:,} @ {r['rate']:,}/s "
              f"| {w['p50']} / {w['p95']} / {w['p99']} / {w['max']} "
              f"| {s['p50']} / {s['p95']} / {s['p99']} / {s['max']} | {r['startup_lag_ms']} "
              f"| {stages} |")  # fmt: skip
    medians = {}
    for mode in ("dag", "cli"):
        for _, rate in rates:
            p99s = [r["steady_state_ms"]["p99"] for r in results
                    if r["mode"] == mode and r["rate"] == rate and r["steady_state_ms"]["p99"]]
            if p99s:
                medians[f"{mode}@{rate}"] = {"steady_p99_ms_each": p99s,
                                             "steady_p99_ms_median": float(np.median(p99s))}
    for key, m in medians.items():
        print(f"{key}: steady-state p99 {m['steady_p99_ms_each']} ms, median "
              f"{m['steady_p99_ms_median']} ms")  # fmt: skip
    met = all(
        medians.get(f"dag@{rate}", {}).get("steady_p99_ms_median", 1e9)
        <= TARGET_P99_MS.get(rate, 500.0)
        for _, rate in rates
    ) if args.only in (None, "dag") else None
    summary = {
        "bench": "latency",
        "target_steady_p99_ms": TARGET_P99_MS,
        "dag_target_met": met,
        "medians": medians,
        "runs": [{k: r[k] for k in ("mode", "rate", "steady_state_ms", "stages_ms")}
                 for r in results],
    }  # fmt: skip
    print(json.dumps(summary), flush=True)
    return 0 if all(r["state"] == "success" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
