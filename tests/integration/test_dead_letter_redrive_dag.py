"""The dead_letter_redrive DAG through ``dag.test()`` (Airflow metadata in a temp sqlite, the
loanstream tables in a fresh schema): its params filter like the CLI's, counts in the log
and the XCom."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from psycopg2.extensions import parse_dsn

from tests.helpers import REPO, query, temp_schema, unique_name
from tests.monitoring_data import HOSTILE, seed_run

pytestmark = pytest.mark.integration

RUNNER = """
import json, sys
sys.path.insert(0, {dags!r})
from dead_letter_redrive import dag
run = dag.test(run_conf=json.loads(sys.argv[1]))
ti = run.get_task_instance("redrive")
print("RESULT " + json.dumps({{"state": str(run.state), "task": str(ti.state),
                              "xcom": ti.xcom_pull(task_ids="redrive")}}))
"""


def test_dag_redrives_the_runs_dead_letters_matching_the_reason(settings, shared_csv,
                                                                tmp_path: Path) -> None:  # fmt: skip
    with temp_schema(settings) as dsn:
        run = seed_run(dsn, shared_csv, unique_name("dagredrive"), "t_dag", fixable=2)
        other = seed_run(dsn, shared_csv, unique_name("dagredrive"), "t_dag_other")
        pg = parse_dsn(dsn)
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(tmp_path / "airflow"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "PYTHONPATH": str(REPO / "plugins"),
            # the connection the operator reads, to the fresh schema (extras reach libpq)
            "AIRFLOW_CONN_LOANSTREAM_POSTGRES": json.dumps({
                "conn_type": "postgres", "host": pg.get("host"),
                "port": int(pg.get("port") or 5432), "login": pg.get("user"),
                "password": pg.get("password"), "schema": pg.get("dbname"),
                "extra": {"options": pg["options"]},
            }),
        }
        airflow = Path(sys.executable).with_name("airflow")
        subprocess.run([str(airflow), "db", "migrate"], env=env, check=True, capture_output=True)
        conf = {"run_id": run.run_id, "reason": "OLDER PARSER", "limit": 100}
        proc = subprocess.run([sys.executable, "-c", RUNNER.format(dags=str(REPO / "dags")),
                               json.dumps(conf)], env=env, capture_output=True, text=True,
                              timeout=600)  # fmt: skip
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        assert lines, f"no result:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        result = json.loads(lines[-1][len("RESULT ") :])
        log = proc.stdout + proc.stderr
        states = dict(query(dsn, "SELECT run_id, count(*) FILTER (WHERE resolved_at IS NULL) "
                            "FROM dead_letters GROUP BY 1"))  # fmt: skip
        resolved_by = {r[0] for r in query(dsn, "SELECT resolved_by FROM dead_letters "
                                           "WHERE resolved_at IS NOT NULL")}  # fmt: skip
    assert (result["state"], result["task"]) == ("success", "success"), log[-4000:]
    xcom = result["xcom"]
    assert (xcom["selected"], xcom["resolved"], xcom["still_failing"]) == (2, 2, 0), xcom
    assert xcom["redrive_id"].startswith("dag:")
    # who: the user who triggered the run (dag.test() triggers as "dag_test"), and the run
    dag_run_id = xcom["redrive_id"][len("dag:") :]
    assert resolved_by == {f"dag_test (dag run {dag_run_id})"} == {xcom["resolved_by"]}
    assert "2 dead letters selected, 2 scored and resolved, 0 still failing" in log
    # the hostile ones of the run did not match the reason; the other run was not touched
    assert states == {run.run_id: len(HOSTILE), other.run_id: other.dead}
