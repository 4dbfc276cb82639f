"""`dag.test()` end to end on the real Kafka and Postgres (Airflow metadata in a temp sqlite)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loanstream.config import Settings
from tests.helpers import REPO, landed_csv, query, unique_name

pytestmark = pytest.mark.integration

RUNNER = """
import json, sys
sys.path.insert(0, {dags!r})
from loan_stream_pipeline import dag
run = dag.test(run_conf=json.loads(sys.argv[1]))
states = {{ti.task_id + ("" if ti.map_index < 0 else f"[{{ti.map_index}}]"): str(ti.state)
          for ti in run.get_task_instances()}}
print("RESULT " + json.dumps({{"run_id": run.run_id, "state": str(run.state), "tasks": states}}))
"""


def _connections_from_env(settings: Settings) -> dict[str, str]:
    """The loanstream connections as Airflow's own ``AIRFLOW_CONN_*`` variables: each Kafka
    role's login (the passwords ``make up`` generated), and the database."""
    from psycopg2.extensions import parse_dsn

    from loanstream.kafka.acls import ROLES, client_security
    from loanstream.runs.watch import watcher_connection_extra

    pg = parse_dsn(settings.pg_dsn)
    kafka = {}
    for role in ROLES:
        extra = {"bootstrap.servers": settings.bootstrap_servers,
                 **client_security(role, os.environ[f"LOANSTREAM_KAFKA_{role.upper()}_PASSWORD"])}  # fmt: skip
        if role == "watcher":
            extra = watcher_connection_extra(extra, settings.watch_group)
        kafka[f"AIRFLOW_CONN_LOANSTREAM_KAFKA_{role.upper()}"] = json.dumps({"conn_type": "kafka", "extra": extra})
    return {
        **kafka,
        "AIRFLOW_CONN_LOANSTREAM_POSTGRES": json.dumps(
            {
                "conn_type": "postgres",
                "host": pg.get("host"),
                "port": int(pg.get("port") or 5432),
                "login": pg.get("user"),
                "password": pg.get("password"),
                "schema": pg.get("dbname"),
            }
        ),
    }


def run_dag_test(tmp_path: Path, conf: dict) -> dict:
    env = dict(os.environ)
    env.update(_connections_from_env(Settings.from_env()))
    env.update(
        {
            "AIRFLOW_HOME": str(tmp_path / "airflow"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "PYTHONPATH": str(REPO / "plugins"),
            # dag.test() runs one task at a time: the producer must not wait for consumers
            # that can only start after it (the sensor reschedules itself until it started)
            "LOANSTREAM_WAIT_FOR_CONSUMERS_SECONDS": "0",
        }
    )
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], env=env, check=True, capture_output=True)
    script = RUNNER.format(dags=str(REPO / "dags"))
    proc = subprocess.run(
        [sys.executable, "-c", script, json.dumps(conf)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"dag.test produced no result:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    result = json.loads(lines[-1][len("RESULT ") :])
    result["log"] = proc.stdout + proc.stderr
    return result


def test_dag_test_end_to_end(live_settings: Settings, shared_csv: Path, tmp_path: Path) -> None:
    topic = unique_name("dagtest")
    with landed_csv(shared_csv, live_settings, prefix="dagtest") as csv_path:
        result = run_dag_test(
            tmp_path,
            {"csv_path": str(csv_path), "rate": 0, "max_events": 400, "topic": topic},
        )
    assert result["state"] == "success", result["log"][-5000:]
    assert all(state == "success" for state in result["tasks"].values()), result["tasks"]
    assert {"score_events[0]", "score_events[1]", "score_events[2]"} <= set(result["tasks"])
    ((scored, distinct),) = query(
        live_settings.pg_dsn,
        "SELECT count(*), count(DISTINCT loan_id) FROM risk_scored WHERE run_id = %s",
        (result["run_id"],),
    )
    ((dead,),) = query(
        live_settings.pg_dsn,
        "SELECT count(*) FROM dead_letters WHERE run_id = %s",
        (result["run_id"],),
    )
    assert scored + dead == 400 and distinct == scored
    assert "via the Kafka Admin API (rpk not installed)" in result["log"]
    assert "produced 400, scored" in result["log"]
