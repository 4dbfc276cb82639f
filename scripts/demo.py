"""Run the main DAG on the shipped sample through Airflow's REST API v2, and report.

    scripts/env.sh .venv/bin/python scripts/demo.py [--dag-id ID] [--conf JSON] [--timeout S]

`make demo` runs it after `make setup up`. Steps: log in (POST /auth/token with the admin
credentials), wait for the DAG to be parsed, unpause it, trigger a run with ``conf``, poll
until the run finishes, print each task's state and the ``return_value`` XCom of task
``summarize``, then the UI address and how to log in. Exit code 0 only for a successful run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from devstack import envfile  # noqa: E402

FINISHED = {"success", "failed"}


class ApiError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


REPORT_DAG = "loan_band_report"


class Airflow:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.token: str | None = None

    def request(self, method: str, path: str, body: object | None = None, query: dict | None = None):
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query, doseq=True)
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise ApiError(exc.code, detail[:500]) from None
        return json.loads(raw) if raw else None

    def login(self, username: str, password: str) -> None:
        body = self.request("POST", "/auth/token", {"username": username, "password": password})
        self.token = body["access_token"]


def wait_for_dag(api: Airflow, dag_id: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    announced = False
    while True:
        try:
            return api.request("GET", f"/api/v2/dags/{dag_id}")
        except ApiError as exc:
            if exc.status != 404:
                raise
        if time.monotonic() >= deadline:
            raise SystemExit(
                f"demo: DAG {dag_id!r} not found in Airflow after {timeout:.0f}s.\n"
                f"  Is dags/{dag_id}.py there, and does it parse? See the UI's Dag import errors,"
                f" or .local/logs/airflow-dag-processor.log"
            )
        if not announced:
            print(f"demo: waiting up to {timeout:.0f}s for the DAG {dag_id!r} to be parsed ...")
            announced = True
        time.sleep(2)


def import_errors(api: Airflow) -> list[str]:
    try:
        body = api.request("GET", "/api/v2/importErrors")
    except ApiError:
        return []
    return [f"{e.get('filename')}: {e.get('stack_trace', '').strip().splitlines()[-1:]}" for e in body.get("import_errors", [])]


def human_summary(summary: dict) -> str:
    """The summarize task's XCom as a few readable lines."""
    bands = ", ".join(f"{band} {n}" for band, n in sorted(summary.get("bands", {}).items()))
    decisions = ", ".join(f"{d} {n}" for d, n in sorted(summary.get("decisions", {}).items()))
    latency = summary.get("latency_ms") or {}
    schema = summary.get("value_schema") or {}
    dropped = summary.get("dropped_columns") or {}
    return "\n".join(
        [
            f"  topic            {summary.get('topic')}, value schema {schema.get('subject')} "
            f"id {schema.get('id')} ({schema.get('contract')})",
            f"  left out         {len(dropped)} columns outside the contract, never sent "
            f"(e.g. {', '.join(sorted(dropped)[:3]) or 'none'})",
            f"  produced         {summary.get('produced')} events "
            f"({summary.get('rejected_rows', 0)} rows rejected) at "
            f"{summary.get('produce_eps')} events/s in {summary.get('produce_seconds')} s",
            f"  scored           {summary.get('scored')}   dead-lettered "
            f"{summary.get('dead_lettered')}   missing {summary.get('missing')}",
            f"  consume          {summary.get('consume_eps')} events/s "
            f"(one task per partition, beside the producer, {summary.get('consume_seconds')} s)",
            f"  latency          event_time -> stored in Postgres: p50 {latency.get('p50')} ms, "
            f"p99 {latency.get('p99')} ms, max {latency.get('max')} ms",
            f"  risk bands       {bands}",
            f"  decisions        {decisions}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    envfile.load()
    root = envfile.ROOT
    default_url = os.environ.get("LOANSTREAM_AIRFLOW_URL") or (
        f"http://{os.environ.get('LOANSTREAM_AIRFLOW_HOST', '127.0.0.1')}:"
        f"{os.environ.get('LOANSTREAM_AIRFLOW_PORT', '8080')}"
    )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dag-id", default="loan_stream_pipeline")
    parser.add_argument("--url", default=default_url, help="Airflow base URL (%(default)s)")
    parser.add_argument("--csv", default=str(root / "include" / "data" / "loan_applications_sample.csv"))
    parser.add_argument("--conf", default=None, help="extra run conf as JSON, merged over csv_path")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for the run")
    parser.add_argument("--parse-timeout", type=float, default=60, help="seconds to wait for the DAG")
    args = parser.parse_args(argv)

    password = os.environ.get("LOANSTREAM_AIRFLOW_ADMIN_PASSWORD", "")
    if not password:
        print(f"demo: LOANSTREAM_AIRFLOW_ADMIN_PASSWORD is not set: `make up` generates it into {root / '.env'}", file=sys.stderr)
        return 2
    csv_path = Path(args.csv).resolve()
    if not csv_path.is_file():
        print(f"demo: warning: {csv_path} does not exist; the run's validation will fail", file=sys.stderr)
    try:
        from loanstream.paths import PathNotAllowed, data_file

        data_file(csv_path)
    except PathNotAllowed as exc:
        print(f"demo: warning: the run will refuse it: {exc}", file=sys.stderr)
    except ImportError:
        pass
    conf = {"csv_path": str(csv_path)}
    if args.conf:
        conf.update(json.loads(args.conf))

    api = Airflow(args.url)
    try:
        api.login("admin", password)
    except (urllib.error.URLError, ConnectionError) as exc:
        print(f"demo: Airflow is not reachable at {args.url} ({exc}): run `make up` first", file=sys.stderr)
        return 2
    except ApiError as exc:
        print(f"demo: login as admin failed ({exc}); is LOANSTREAM_AIRFLOW_ADMIN_PASSWORD in {root / '.env'} the one the running stack uses? `make up` applies it", file=sys.stderr)
        return 2

    try:
        wait_for_dag(api, args.dag_id, args.parse_timeout)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        for err in import_errors(api):
            print(f"  import error: {err}", file=sys.stderr)
        return 2
    api.request("PATCH", f"/api/v2/dags/{args.dag_id}", {"is_paused": False}, {"update_mask": ["is_paused"]})
    with contextlib.suppress(ApiError):  # the example Dag on the risk_scored asset runs after it
        api.request("PATCH", f"/api/v2/dags/{REPORT_DAG}", {"is_paused": False}, {"update_mask": ["is_paused"]})
    run = api.request(
        "POST", f"/api/v2/dags/{args.dag_id}/dagRuns", {"logical_date": None, "conf": conf}
    )
    run_id = run["dag_run_id"]
    print(f"demo: triggered {args.dag_id} run {run_id}\n      conf {json.dumps(conf)}")

    deadline = time.monotonic() + args.timeout
    state = run.get("state")
    last = None
    while state not in FINISHED:
        if time.monotonic() > deadline:
            print(f"demo: run still {state} after {args.timeout:.0f}s", file=sys.stderr)
            break
        time.sleep(3)
        run = api.request("GET", f"/api/v2/dags/{args.dag_id}/dagRuns/{run_id}")
        state = run["state"]
        tis = api.request("GET", f"/api/v2/dags/{args.dag_id}/dagRuns/{run_id}/taskInstances")
        progress = ", ".join(
            f"{ti['task_id']}{'' if ti.get('map_index', -1) < 0 else '[' + str(ti['map_index']) + ']'}={ti['state']}"
            for ti in tis["task_instances"]
        )
        if progress != last:
            print(f"demo: [{state}] {progress}")
            last = progress

    tis = api.request("GET", f"/api/v2/dags/{args.dag_id}/dagRuns/{run_id}/taskInstances")
    print(f"\nRun {run_id}: {state}")
    for ti in sorted(tis["task_instances"], key=lambda t: (t.get("start_date") or "", t["task_id"])):
        index = "" if ti.get("map_index", -1) < 0 else f"[{ti['map_index']}]"
        duration = ti.get("duration")
        took = f"{duration:.1f}s" if isinstance(duration, (int, float)) else "-"
        print(f"  {ti['task_id'] + index:<28} {str(ti['state']):<16} {took}")
    try:
        xcom = api.request(
            "GET",
            f"/api/v2/dags/{args.dag_id}/dagRuns/{run_id}/taskInstances/summarize/xcomEntries/return_value",
            query={"deserialize": "true"},
        )
        value = xcom.get("value")
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        print("\nSummary (summarize → return_value):")
        if isinstance(value, dict):
            print(human_summary(value))
        else:
            print(value)
    except ApiError as exc:
        if exc.status != 404:
            raise
        print("\n(no summary: task `summarize` left no return_value)")

    with contextlib.suppress(ApiError):
        events = api.request("GET", "/api/v2/assets/events",
                             query={"source_dag_id": args.dag_id, "source_run_id": run_id})
        uris = sorted(event["uri"] for event in events.get("asset_events", []))
        if uris:
            print(f"\nasset events: {', '.join(uris)}; {REPORT_DAG} (scheduled on risk_scored)"
                  " writes this run's band mix to band_reports")
    prometheus = os.environ.get("LOANSTREAM_PROMETHEUS_URL", "http://127.0.0.1:9090")
    print(
        f"\nAirflow UI: {args.url}  — log in as `admin`; the password is the random"
        f" LOANSTREAM_AIRFLOW_ADMIN_PASSWORD that `make up` generated into {root / '.env'}"
        f" (read it there: grep LOANSTREAM_AIRFLOW_ADMIN_PASSWORD {root / '.env'})\n"
        f"This run: {args.url}/dags/{args.dag_id}/runs/{urllib.parse.quote(run_id)}\n"
        f"The stream (counts, throughput, latency, lag, dead letters): {args.url}/loanstream/\n"
        f"Prometheus (the pipeline's metrics, alerts at /alerts): {prometheus}"
    )
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
