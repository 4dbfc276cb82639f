"""The whole DAG on the Kaggle export at its real size (2,260,701 rows, ~1.6 GB), at rate 0.

    scripts/env.sh .venv/bin/python bench/bench_full_scale.py [--rows 2260701]

Writes the file with ``loanstream generate --shape kaggle`` into the landing directory (once;
reused while it exists), triggers ``loan_stream_pipeline`` on it over the REST API and reports:
time and peak RSS of each task (the ``peak memory (RSS)`` line every task logs), events/s end
to end (first task start to last task end), the skipped summary rows, and the size of the
Postgres tables afterwards. The topic is deleted at the end; the rows stay (they are the
point). The last line is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

import psycopg2  # noqa: E402
from airflow_api import Airflow, DagRunner  # noqa: E402

from devstack.envfile import load as load_env  # noqa: E402
from loanstream.config import Settings  # noqa: E402
from tests.resources import delete_topics, unique_name  # noqa: E402

DAG_ID = "loan_stream_pipeline"
TABLES = ("risk_scored", "risk_decisions", "dead_letters", "consumer_offsets", "run_ledger")


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_260_701)
    args = parser.parse_args()
    load_env()
    settings = Settings.from_env()
    csv = settings.landing_dir / f"accepted_2007_to_2018Q4_{args.rows}.csv"
    if not csv.exists():
        subprocess.run(
            [sys.executable, "-m", "loanstream.cli", "generate", "--shape", "kaggle",
             "--rows", str(args.rows), "--out", str(csv)],
            check=True,
        )  # fmt: skip
    api = Airflow(os.environ["LOANSTREAM_AIRFLOW_URL"])
    api.login("admin", os.environ["LOANSTREAM_AIRFLOW_ADMIN_PASSWORD"])
    runner = DagRunner(api)
    topic = unique_name("bench_full")
    run_id = runner.trigger(DAG_ID, {"csv_path": str(csv), "rate": 0, "topic": topic})
    try:
        state = runner.wait(DAG_ID, run_id, timeout=7200)
    finally:
        delete_topics(settings.kafka_config(), [topic])
    tasks = {}
    starts, ends = [], []
    for ti in runner.task_instances(DAG_ID, run_id):
        name = ti["task_id"] + ("" if ti.get("map_index", -1) < 0 else f"[{ti['map_index']}]")
        log = runner.log(DAG_ID, run_id, ti["task_id"], ti.get("try_number") or 1, ti.get("map_index", -1))
        peak = re.findall(r"peak memory \(RSS\): (\d+) MiB", log)
        tasks[name] = {
            "state": ti["state"],
            "seconds": ti.get("duration"),
            "peak_rss_mib": int(peak[-1]) if peak else None,
        }
        if ti.get("start_date") and ti.get("end_date"):
            starts.append(_ts(ti["start_date"]))
            ends.append(_ts(ti["end_date"]))
    summary = runner.xcom(DAG_ID, run_id, "summarize") if state == "success" else None
    with psycopg2.connect(settings.pg_dsn) as conn, conn.cursor() as cur:
        sizes = {}
        for table in TABLES:
            cur.execute("SELECT pg_total_relation_size(%s::regclass)", (table,))
            (total,) = cur.fetchone()
            cur.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - names from TABLES
            (rows,) = cur.fetchone()
            sizes[table] = {"mib": round(total / 2**20, 1), "rows": rows}
    conn.close()
    wall = (max(ends) - min(starts)).total_seconds() if starts else None
    produced = (summary or {}).get("produced")
    result = {
        "bench": "full_scale_dag",
        "rows_in_file": args.rows,
        "file_mib": round(csv.stat().st_size / 2**20, 1),
        "state": state,
        "run_id": run_id,
        "wall_seconds": wall,
        "events_per_second_end_to_end": round(produced / wall, 1) if produced and wall else None,
        "tasks": tasks,
        "summary": summary,
        "table_sizes": sizes,
    }
    print("\n| task | state | seconds | peak RSS (MiB) |\n|---|---|---:|---:|")
    for name, t in tasks.items():
        print(f"| {name} | {t['state']} | {t['seconds']} | {t['peak_rss_mib']} |")
    print(json.dumps(result, default=str), flush=True)
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
