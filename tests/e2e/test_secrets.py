"""Secrets never reach logs or XCom: run the pipeline through the running scheduler, then scan
everything the run left behind for every secret of the stack (issue 12).

Scanned: the run (its conf), every task instance, every task log (each try and mapped index,
over the REST API and the files under ``$AIRFLOW_HOME/logs``), every XCom, the validation
report, and the service logs in ``.local/logs``. Secrets: the Postgres passwords, the Airflow
admin password, Kafka's SCRAM passwords (the broker's and each role's), and Airflow's own keys
in ``.local/secrets``.

With ``LOANSTREAM_KAFKA_SASL_SSL=1`` (``make up`` then points the ``loanstream_kafka_<role>``
connections at the SASL_SSL listener) the run goes through SCRAM-SHA-512 over TLS, and the
test checks that it did; without it the run uses the loopback SASL_PLAINTEXT listener and the
same scan applies.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from loanstream.config import Settings
from tests.helpers import REPO, landed_csv, shared_data_csv, unique_name

pytestmark = pytest.mark.e2e

DAG_ID = "loan_stream_pipeline"
SECRET_VARS = (
    "LOANSTREAM_PG_PASSWORD",
    "AIRFLOW_PG_PASSWORD",
    "LOANSTREAM_AIRFLOW_ADMIN_PASSWORD",
    "LOANSTREAM_KAFKA_BROKER_PASSWORD",
    "LOANSTREAM_KAFKA_ADMIN_PASSWORD",
    "LOANSTREAM_KAFKA_PRODUCER_PASSWORD",
    "LOANSTREAM_KAFKA_SINK_PASSWORD",
    "LOANSTREAM_KAFKA_WATCHER_PASSWORD",
)


def stack_secrets() -> dict[str, str]:
    found = {name: os.environ[name] for name in SECRET_VARS if len(os.environ.get(name, "")) >= 8}
    for path in (REPO / ".local" / "secrets").glob("*"):
        if path.is_file() and len(value := path.read_text().strip()) >= 8:
            found[f".local/secrets/{path.name}"] = value
    return found


def sasl_on() -> bool:
    return os.environ.get("LOANSTREAM_KAFKA_SASL_SSL", "0") == "1"


def files_of(run_id: str, settings: Settings) -> dict[str, str]:
    """Task log files of the run, its validation report, and the service logs."""
    airflow_home = Path(os.environ.get("AIRFLOW_HOME") or REPO / ".local" / "airflow")
    paths = [p for p in (airflow_home / "logs").glob(f"dag_id={DAG_ID}/run_id={run_id}/**/*")]
    safe = run_id.replace(":", "_").replace("+", "_")
    paths += list((settings.reports_dir or REPO / ".local" / "reports").glob(f"{safe}*/**/*"))
    paths += list((REPO / ".local" / "logs").glob("*.log"))
    return {
        f"file {p}": p.read_text(errors="replace")
        for p in paths
        if p.is_file() and p.stat().st_size < 200_000_000
    }


@pytest.fixture
def topic(kafka_admin) -> Iterator[str]:
    name = unique_name("e2esecrets")
    yield name
    for future in kafka_admin.delete_topics([name], operation_timeout=15).values():
        try:
            future.result(timeout=20)
        except Exception:  # noqa: BLE001 - best effort
            pass


def test_a_run_leaves_no_secret_in_any_log_xcom_or_report(
    dag_runner, settings: Settings, topic: str
) -> None:
    secrets = stack_secrets()
    assert {"LOANSTREAM_PG_PASSWORD", "LOANSTREAM_AIRFLOW_ADMIN_PASSWORD"} <= set(secrets), (
        "the stack's passwords are not in the environment: run `make up` (it writes them to .env)"
    )
    with landed_csv(shared_data_csv(), settings, prefix="e2esecrets") as csv_path:
        run_id = dag_runner.trigger(
            DAG_ID, {"csv_path": str(csv_path), "rate": 0, "max_events": 300, "topic": topic}
        )
        state = dag_runner.wait(DAG_ID, run_id, timeout=600)
    artefacts = dag_runner.artefacts(DAG_ID, run_id) | files_of(run_id, settings)
    assert state == "success", dag_runner.task_states(DAG_ID, run_id)
    assert any(name.startswith("xcom ") for name in artefacts)
    assert any(name.startswith("log ") for name in artefacts)
    leaks = sorted(
        f"{secret_name} in {where}"
        for where, text in artefacts.items()
        for secret_name, value in secrets.items()
        if value in text
    )
    assert not leaks, "secrets found in the run's artefacts:\n" + "\n".join(leaks)
    if sasl_on():
        produce_log = dag_runner.log(DAG_ID, run_id, "produce_events")
        port = os.environ.get("LOANSTREAM_KAFKA_SASL_PORT", "9094")
        assert f"SASL_SSL listener 127.0.0.1:{port}: authenticated" in produce_log, produce_log[
            -3000:
        ]
