"""Fixtures for end-to-end tests against the running Airflow (`make up`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from airflow_api import Airflow, DagRunner  # noqa: E402


@pytest.fixture(scope="session")
def airflow_api(airflow_url: str) -> Airflow:
    api = Airflow(airflow_url)
    try:
        api.login("admin", os.environ["LOANSTREAM_AIRFLOW_ADMIN_PASSWORD"])
    except Exception as exc:  # noqa: BLE001 - any failure here means the stack is not up
        pytest.fail(f"Airflow is not reachable at {airflow_url} ({exc}): run `make up` first")
    return api


@pytest.fixture(scope="session")
def dag_runner(airflow_api: Airflow) -> DagRunner:
    return DagRunner(airflow_api)
