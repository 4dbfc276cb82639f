"""The Airflow UI and REST API require a login; the API never returns connection passwords."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest

pytestmark = pytest.mark.e2e

PROTECTED = ["/api/v2/dags", "/api/v2/connections", "/api/v2/variables", "/api/v2/dags/loan_stream_pipeline/dagRuns"]  # fmt: skip


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=15) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.parametrize("path", PROTECTED)
def test_api_without_token_is_refused(airflow_url: str, path: str) -> None:
    status, body = _get(airflow_url + path)
    assert status in (401, 403), (path, status, body[:200])
    assert b"loan_stream_pipeline" not in body and b"loanstream_postgres" not in body


@pytest.mark.parametrize("token", ["not.a.token", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."])
def test_api_with_forged_token_is_refused(airflow_url: str, token: str) -> None:
    status, _ = _get(airflow_url + "/api/v2/dags", token)
    assert status in (401, 403)


def test_wrong_password_gets_no_token(airflow_url: str) -> None:
    wrong = "wrong-" + uuid.uuid4().hex
    body = json.dumps({"username": "admin", "password": wrong}).encode()
    req = urllib.request.Request(
        f"{airflow_url}/auth/token", data=body, method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=15)
    assert info.value.code in (401, 403)


def test_api_with_token_works_and_redacts_connection_passwords(
    airflow_url: str, airflow_token: str
) -> None:
    status, body = _get(airflow_url + "/api/v2/dags", airflow_token)
    assert status == 200 and b"loan_stream_pipeline" in body
    status, body = _get(airflow_url + "/api/v2/connections/loanstream_postgres", airflow_token)
    assert status == 200
    conn = json.loads(body)
    assert conn["password"] in (None, "***"), "the API must not return the password"
