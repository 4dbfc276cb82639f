"""The Loanstream page, its API and the metrics after a full-size run (issue 24).

    scripts/env.sh .venv/bin/python bench/bench_page.py [--rows 2260668] [--keep]

Builds the state the 2.26M-row Kaggle run leaves, synthetically, in the stack's own loanstream
database (what the API server reads): a ``run_ledger`` row (complete, finished 5 minutes ago)
and ``--rows`` decisions in ``risk_decisions`` made by one ``INSERT ... SELECT`` over
``generate_series`` (loan ids, scores, bands and decisions varied per row; ``event_time`` spread
at the full run's 18,838 events/s, ``scored_at`` 0-500 ms later; 3 partitions), and an empty
3-partition topic of the run's name (the metrics read its lag). Then, timed:

1. ``summarize``'s read at the run's end (``figures.run_figures(store=True)``): the run's
   figures computed over every decision, once, and stored;
2. over HTTP, as the page asks them, each 5 times: ``GET /loanstream/api/runs`` (the runs list),
   ``GET /loanstream/api/runs/<run>`` (the run detail), ``GET /loanstream/metrics``.

Targets: list and detail under 1 s, metrics under 200 ms (median of the 5). Afterwards the
synthetic run is deleted (its decisions through the prune bypass of migration 0005), unless
``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

import psycopg2  # noqa: E402
from airflow_api import Airflow  # noqa: E402

from devstack.envfile import load as load_env  # noqa: E402
from loanstream.config import Settings  # noqa: E402
from loanstream.kafka.topics import ensure_topic  # noqa: E402
from loanstream.runs import figures  # noqa: E402
from tests.resources import delete_topics  # noqa: E402

FULL_RUN_ROWS = 2_260_668
RATE = 18_838  # events/s of the full run, end to end
TARGETS_S = {"runs_list": 1.0, "run_detail": 1.0, "metrics": 0.2}

LEDGER_SQL = """
INSERT INTO run_ledger (run_id, topic, state, source_file, sent, delivered, started_at,
                        heartbeat_at, finished_at)
VALUES (%(run)s, %(topic)s, 'complete', 'synthetic.csv', %(n)s, %(n)s,
        now() - interval '10 minutes', now() - interval '5 minutes', now() - interval '5 minutes')
"""
DECISIONS_SQL = """
INSERT INTO risk_decisions (loan_id, loan_amnt, term_months, int_rate, annual_inc, dti,
    revol_util, emp_length_years, credit_history_months, fico, inq_last_6mths, delinq_2yrs,
    pub_rec, home_ownership, purpose, features_as_of, features_as_of_basis, risk_score,
    risk_band, decision, reasons, rules_version, event_time, scored_at, run_id, src_topic,
    src_partition, src_offset)
SELECT %(prefix)s || i, 1000 + i %% 39000, CASE WHEN i %% 3 = 0 THEN 60 ELSE 36 END,
       5 + (i %% 250) / 10.0, 20000 + i %% 180000, (i %% 400) / 10.0, (i %% 1000) / 10.0,
       i %% 11, 24 + i %% 400, 660 + i %% 190, i %% 6, i %% 4, i %% 3, 'RENT',
       'debt_consolidation', date '2016-01-01', 'issue_d', s,
       CASE WHEN s < 30 THEN 'A' WHEN s < 50 THEN 'B' WHEN s < 70 THEN 'C' ELSE 'D' END,
       CASE WHEN s < 50 THEN 'approve' WHEN s < 70 THEN 'review' ELSE 'decline' END,
       '["synthetic"]'::jsonb, 'synthetic', t, t + random() * interval '500 milliseconds',
       %(run)s, %(topic)s, i %% 3, i / 3
FROM (SELECT i, (i * 37) %% 101 AS s,
             now() - interval '10 minutes' + (i / %(rate)s::float8) * interval '1 second' AS t
      FROM generate_series(0, %(n)s - 1) AS i) AS g
"""
CLEAN_SQL = """
SET LOCAL loanstream.pruning = 'on';
DELETE FROM risk_decisions WHERE run_id = %(run)s;
DELETE FROM run_figures WHERE run_id = %(run)s;
DELETE FROM run_ledger WHERE run_id = %(run)s;
"""


def get(base: str, token: str, path: str) -> tuple[float, bytes]:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        body = response.read()
    return time.perf_counter() - start, body


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=FULL_RUN_ROWS)
    parser.add_argument("--keep", action="store_true", help="leave the synthetic run in place")
    args = parser.parse_args()
    load_env()
    settings = Settings.from_env()
    tag = uuid.uuid4().hex[:8]
    run, topic = f"synthetic_{tag}", f"synthetic_{tag}"
    params = {"run": run, "topic": topic, "n": args.rows, "prefix": f"9{tag}", "rate": RATE}
    ensure_topic(settings.kafka_config(), topic, partitions=3, use_rpk=False)
    conn = psycopg2.connect(settings.pg_dsn)
    result: dict = {"bench": "page", "rows": args.rows, "run_id": run}
    try:
        start = time.perf_counter()
        with conn, conn.cursor() as cur:
            cur.execute(LEDGER_SQL, params)
            cur.execute(DECISIONS_SQL, params)
        result["build_s"] = round(time.perf_counter() - start, 1)
        with conn, conn.cursor() as cur:
            cur.execute("ANALYZE risk_decisions")
        start = time.perf_counter()
        stored = figures.run_figures(conn, run, store=True)
        result["summarize_s"] = round(time.perf_counter() - start, 2)
        assert stored["figures_stored"] and stored["scored"] == args.rows, stored["scored"]

        api = Airflow(os.environ["LOANSTREAM_AIRFLOW_URL"])
        api.login("admin", os.environ["LOANSTREAM_AIRFLOW_ADMIN_PASSWORD"])
        base = os.environ["LOANSTREAM_AIRFLOW_URL"].rstrip("/") + "/loanstream"
        paths = {"runs_list": "/api/runs?limit=20", "run_detail": f"/api/runs/{quote(run)}",
                 "metrics": "/metrics"}  # fmt: skip
        for name, path in paths.items():
            times = []
            for _ in range(5):
                seconds, body = get(base, api.token or "", path)
                times.append(seconds)
            if name == "run_detail":
                assert json.loads(body)["scored"] == args.rows
            result[f"{name}_s_each"] = [round(t, 3) for t in times]
            result[f"{name}_s_median"] = round(statistics.median(times), 3)
        result["met"] = all(result[f"{k}_s_median"] < v for k, v in TARGETS_S.items())
    finally:
        if not args.keep:
            with conn, conn.cursor() as cur:
                cur.execute(CLEAN_SQL, params)
        conn.close()
        delete_topics(settings.kafka_config(), [topic])
    print(json.dumps(result), flush=True)
    print(f"\n{args.rows:,} decisions; summarize (computed once, stored): "
          f"{result['summarize_s']} s")  # fmt: skip
    for name, limit in TARGETS_S.items():
        print(f"{name}: median {result[f'{name}_s_median']} s of {result[f'{name}_s_each']} "
              f"(target < {limit} s)")  # fmt: skip
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
