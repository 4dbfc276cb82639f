"""Through the running scheduler: a ``csv_path`` outside the data directories is refused, and
nothing of the file reaches any log, XCom or report of the run (issue 12).

The target is Airflow's own passwords file, which holds the admin password: asked for
directly, through ``..`` from the landing directory, and through a symlink in it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from loanstream.config import Settings
from tests.helpers import REPO, unique_name

pytestmark = pytest.mark.e2e

DAG_ID = "loan_stream_pipeline"


def passwords_file() -> Path:
    configured = os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
    return Path(configured or REPO / ".local" / "airflow" / "simple_auth_manager_passwords.json")


def reports_of(settings: Settings, run_id: str) -> dict[str, str]:
    """The run's files under the reports directory (the validation report), as text."""
    safe = run_id.replace(":", "_").replace("+", "_")
    found = {}
    for path in (settings.reports_dir or Path("/nonexistent")).glob(f"{safe}*/**/*"):
        if path.is_file():
            found[f"report {path}"] = path.read_text(errors="replace")
    return found


@pytest.fixture
def topics(kafka_admin) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    if made:
        for future in kafka_admin.delete_topics(made, operation_timeout=15).values():
            try:
                future.result(timeout=20)
            except Exception:  # noqa: BLE001 - the run may have failed before creating it
                pass


@pytest.mark.parametrize("how", ["absolute", "dot-dot", "symlink"])
def test_the_airflow_password_file_is_refused_and_never_quoted(
    how: str, dag_runner, settings: Settings, topics: list[str]
) -> None:
    target = passwords_file()
    assert target.is_file(), f"{target} missing: run `make up` first"
    password = os.environ["LOANSTREAM_AIRFLOW_ADMIN_PASSWORD"]
    assert password in target.read_text()
    landing = settings.landing_dir
    landing.mkdir(parents=True, exist_ok=True)
    link = landing / f"innocent_{uuid.uuid4().hex[:8]}.csv"
    if how == "absolute":
        csv_path = str(target)
    elif how == "dot-dot":
        csv_path = os.path.join(landing, os.path.relpath(target, landing))
        assert ".." in csv_path
    else:
        link.symlink_to(target)
        csv_path = str(link)
    topic = unique_name("e2eref")
    topics.append(topic)
    try:
        run_id = dag_runner.trigger(DAG_ID, {"csv_path": csv_path, "rate": 0, "topic": topic})
        assert dag_runner.wait(DAG_ID, run_id, timeout=300) == "failed"
    finally:
        link.unlink(missing_ok=True)
    states = dag_runner.task_states(DAG_ID, run_id)
    assert states["validate_csv"] == "failed", states
    assert states["produce_events"] in ("upstream_failed", "None", "none"), states
    log = dag_runner.log(DAG_ID, run_id, "validate_csv")
    assert "outside the data directories" in log, log[-3000:]
    assert str(landing) in log
    artefacts = dag_runner.artefacts(DAG_ID, run_id) | reports_of(settings, run_id)
    leaks = [name for name, text in artefacts.items() if password in text]
    assert not leaks, f"the admin password appears in {leaks}"
    if how == "symlink":
        assert not [
            name
            for name, text in artefacts.items()
            if name.startswith("log") and str(target) in text
        ]
