"""Governed access to the Loanstream page on a real Airflow API server (this checkout's
plugins) with three SimpleAuthManager users made for the test: a viewer reads but cannot
redrive (403: nothing changes), a user-role operator redrives, and the redrive records the
operator in ``resolved_by`` and in Airflow's audit log (``GET /api/v2/eventLogs``)."""

from __future__ import annotations

import json
import os
import secrets
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_loanstream_page_api import call
from tests.helpers import query
from tests.monitoring_data import HOSTILE, SeededRun
from tests.monitoring_data import seeded as seeded_run
from tests.private_airflow import private_api_server

pytestmark = [pytest.mark.security, pytest.mark.e2e, pytest.mark.timeout(300)]

SUFFIX = uuid.uuid4().hex[:6]
VIEWER, OPERATOR = f"e2e_viewer_{SUFFIX}", f"e2e_operator_{SUFFIX}"
REDRIVE = "/loanstream/api/dead-letters/redrive"
PAGE_HEADER = {"X-Loanstream": "redrive"}


@pytest.fixture(scope="module")
def users(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Passwords of admin, a viewer and an operator (role ``user``), in a private file."""
    return {"admin": os.environ["LOANSTREAM_AIRFLOW_ADMIN_PASSWORD"],
            VIEWER: secrets.token_urlsafe(16), OPERATOR: secrets.token_urlsafe(16)}  # fmt: skip


@pytest.fixture(scope="module")
def server(users: dict[str, str], tmp_path_factory: pytest.TempPathFactory, airflow_url: str) -> Iterator[str]:
    passwords = Path(tmp_path_factory.mktemp("auth")) / "passwords.json"
    passwords.touch(mode=0o600)
    passwords.write_text(json.dumps(users), encoding="utf-8")
    env = {
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"admin:admin,{VIEWER}:viewer,{OPERATOR}:user",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
    }
    with private_api_server(extra_env=env) as url:
        yield url


def login(server: str, users: dict[str, str], name: str) -> str:
    status, _, body = call(f"{server}/auth/token", "POST",
                           body={"username": name, "password": users[name]})  # fmt: skip
    assert status in (200, 201), body
    return json.loads(body)["access_token"]


@pytest.fixture
def seeded(pg_dsn: str, shared_csv) -> Iterator[SeededRun]:
    with seeded_run(pg_dsn, shared_csv, "e2e_roles", started_ago="2 hours") as run:
        yield run


def open_dead_letters(pg_dsn: str, run_id: str) -> int:
    return query(pg_dsn, "SELECT count(*) FROM dead_letters WHERE run_id = %s AND "
                 "resolved_at IS NULL", (run_id,))[0][0]  # fmt: skip


def test_a_viewer_reads_but_cannot_redrive(server: str, users: dict[str, str],
                                           seeded: SeededRun, pg_dsn: str) -> None:  # fmt: skip
    token = login(server, users, VIEWER)
    run = urllib.parse.quote(seeded.run_id, safe="")
    assert call(f"{server}/loanstream/api/runs/{run}", token=token)[0] == 200
    assert call(f"{server}/loanstream/api/dead-letters?run_id={run}", token=token)[0] == 200
    assert call(f"{server}/loanstream/", cookie=token)[0] == 200
    before = open_dead_letters(pg_dsn, seeded.run_id)
    for dag_id in ("", "?dag_id=loan_stream_pipeline", "?dag_id=anything"):  # never from the URL
        status, _, body = call(f"{server}{REDRIVE}{dag_id}", "POST", token=token,
                               body={"run_id": seeded.run_id}, headers=PAGE_HEADER)  # fmt: skip
        assert status == 403, body
        assert b"dead_letter_redrive" in body
    assert open_dead_letters(pg_dsn, seeded.run_id) == before == len(HOSTILE) + 1


def test_a_redrive_records_the_user_and_an_audit_log_entry(
    server: str, users: dict[str, str], seeded: SeededRun, pg_dsn: str
) -> None:
    token = login(server, users, OPERATOR)
    status, _, body = call(f"{server}{REDRIVE}", "POST", token=token,
                           body={"run_id": seeded.run_id}, headers=PAGE_HEADER)  # fmt: skip
    assert status == 200, body
    result = json.loads(body)
    assert (result["resolved"], result["resolved_by"]) == (1, OPERATOR)
    assert isinstance(result["audit_log_id"], int)
    rows = query(pg_dsn, "SELECT resolved_by FROM dead_letters WHERE run_id = %s AND "
                 "resolved_at IS NOT NULL", (seeded.run_id,))  # fmt: skip
    assert rows == [(OPERATOR,)]
    # Airflow's audit log, read through Airflow's own API by an admin
    admin = login(server, users, "admin")
    status, _, body = call(f"{server}/api/v2/eventLogs?event=loanstream.redrive&owner={OPERATOR}"
                           "&order_by=-id&limit=5", token=admin)  # fmt: skip
    assert status == 200, body
    entries = json.loads(body)["event_logs"]
    entry = next(e for e in entries if e["event_log_id"] == result["audit_log_id"])
    assert (entry["event"], entry["owner"], entry["dag_id"]) == (
        "loanstream.redrive", OPERATOR, "dead_letter_redrive")  # fmt: skip
    extra = json.loads(entry["extra"])
    assert extra["selection"]["run_id"] == seeded.run_id
    # the request was recorded before the redrive ran (a lower id), naming the same user
    assert extra["requested_entry"] == result["audit_request_id"] < result["audit_log_id"]
    status, _, body = call(f"{server}/api/v2/eventLogs?event=loanstream.redrive.requested"
                           f"&owner={OPERATOR}&order_by=-id&limit=5", token=admin)  # fmt: skip
    assert status == 200, body
    requested = next(e for e in json.loads(body)["event_logs"]
                     if e["event_log_id"] == result["audit_request_id"])  # fmt: skip
    assert (requested["owner"], requested["dag_id"]) == (OPERATOR, "dead_letter_redrive")
    assert json.loads(requested["extra"])["selection"]["run_id"] == seeded.run_id
    assert (extra["redrive_id"], extra["resolved"], extra["still_failing"]) == (
        result["redrive_id"], 1, len(HOSTILE))  # fmt: skip
    # the viewer may read the audit log of a Dag it may read; the entry is there for it too
    viewer = login(server, users, VIEWER)
    status, _, body = call(f"{server}/api/v2/eventLogs?event=loanstream.redrive&owner={OPERATOR}",
                           token=viewer)  # fmt: skip
    assert status == 200 and result["redrive_id"] in body.decode()
