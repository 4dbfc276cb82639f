"""The whole DAG, through the running scheduler: 100,000 events unthrottled vs an (almost) empty run.

    scripts/env.sh .venv/bin/python bench/bench_dag.py [--rows 100000]

Triggers ``loan_stream_pipeline`` over the REST API twice, in one run of this script:
on a 1-row file (the fixed overhead: scheduling, task start-up, validation of a tiny file,
sensor) and on the whole generated ``--rows`` file, both at ``rate=0``. Prints the wall time
of each run and of each task, and the cost per event ((big - empty) / events).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from airflow_api import Airflow, DagRunner  # noqa: E402
from bench_producer import landed_dataset  # noqa: E402

from devstack.envfile import load as load_env  # noqa: E402

sys.path.insert(0, str(ROOT))
from tests.resources import delete_named, unique_name  # noqa: E402

DAG_ID = "loan_stream_pipeline"


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def timed_run(runner: DagRunner, csv: Path, max_events: int | None, label: str) -> dict:
    conf = {"csv_path": str(csv), "rate": 0, "topic": unique_name("bench_dag")}
    if max_events:
        conf["max_events"] = max_events
    run_id = runner.trigger(DAG_ID, conf)
    state = runner.wait(DAG_ID, run_id, timeout=3600)
    run = runner.run(DAG_ID, run_id)
    tasks = {}
    for ti in runner.task_instances(DAG_ID, run_id):
        name = ti["task_id"] + ("" if ti.get("map_index", -1) < 0 else f"[{ti['map_index']}]")
        tasks[name] = ti.get("duration")
    summary = runner.xcom(DAG_ID, run_id, "summarize") if state == "success" else None
    result = {
        "bench": "dag_run",
        "label": label,
        "state": state,
        "run_id": run_id,
        "events": (summary or {}).get("produced"),
        "run_seconds": _seconds(run.get("start_date"), run.get("end_date")),
        "queued_to_end_seconds": _seconds(run.get("queued_at"), run.get("end_date")),
        "task_seconds": tasks,
        "summary": summary,
    }
    print(json.dumps(result, default=str), flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    load_env()
    url = f"http://127.0.0.1:{os.environ.get('LOANSTREAM_AIRFLOW_PORT', '8080')}"
    api = Airflow(url)
    api.login("admin", os.environ["LOANSTREAM_AIRFLOW_ADMIN_PASSWORD"])
    runner = DagRunner(api)
    # runs read only the data directories: both files go to the landing directory, for now
    with landed_dataset(args.rows) as csv:
        one_row = csv.with_name(f"{csv.stem}_1.csv")
        try:
            with csv.open() as src:  # header + first row (no embedded newlines in generated data)
                one_row.write_text(src.readline() + src.readline())
            empty = timed_run(runner, one_row, None, "empty (1-row file)")
            full = timed_run(runner, csv, None, f"{args.rows:,} events")
        finally:  # the 1-row file and the topics the two runs created
            one_row.unlink(missing_ok=True)
            from loanstream.config import Settings

            delete_named(Settings.from_env())
    per_event_ms = None
    if empty["run_seconds"] and full["run_seconds"] and full["events"]:
        per_event_ms = 1000 * (full["run_seconds"] - empty["run_seconds"]) / full["events"]
    print("\n| task | empty run (s) | full run (s) |\n|---|---:|---:|")
    for name in full["task_seconds"]:
        e, f = empty["task_seconds"].get(name), full["task_seconds"].get(name)
        print(f"| {name} | {e if e is None else round(e, 2)} | {f if f is None else round(f, 2)} |")
    print(f"| **whole run** | {empty['run_seconds']:.1f} | {full['run_seconds']:.1f} |")
    if per_event_ms is not None:
        print(f"\ncost per event beyond the fixed overhead: {per_event_ms:.3f} ms "
              f"({1000 / per_event_ms:,.0f} events/s end to end)")  # fmt: skip
    return 0 if empty["state"] == full["state"] == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
