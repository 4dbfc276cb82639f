"""Every access check of the Loanstream page names the Dag it guards (never one from the
request): a recording auth manager stands in for Airflow's, no server, no database."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = [pytest.mark.security, pytest.mark.unit]

READS = [
    "/?dag_id=evil",
    "/api/runs?dag_id=evil",
    "/api/runs/r1?dag_id=evil",
    "/api/lag?dag_id=evil",
    "/api/dead-letters?dag_id=evil&run_id=r1",
    "/api/dead-letters/1?dag_id=evil",
    "/metrics?dag_id=evil",
]


class RecordingAuthManager:
    """Answers ``allow`` to every question and records it; a token is the user's name."""

    def __init__(self, allow: bool) -> None:
        self.allow = allow
        self.asked: list[tuple[str, str, str | None, str]] = []

    async def get_user_from_token(self, token: str) -> Any:
        from airflow.api_fastapi.auth.managers.models.base_user import BaseUser

        class User(BaseUser):
            def get_id(self) -> str:
                return token

            def get_name(self) -> str:
                return token

        return User()

    def is_authorized_dag(self, *, method: str, user: Any, access_entity: Any = None,
                          details: Any = None) -> bool:  # fmt: skip
        self.asked.append((method, access_entity.value, details.id if details else None,
                           user.get_name()))  # fmt: skip
        return self.allow


@pytest.fixture
def client_with(monkeypatch: pytest.MonkeyPatch):
    from airflow.api_fastapi.core_api import security
    from fastapi.testclient import TestClient

    from loanstream.airflow import page_access, ui

    monkeypatch.delenv("LOANSTREAM_METRICS_TOKEN", raising=False)

    def make(allow: bool) -> tuple[TestClient, RecordingAuthManager]:
        manager = RecordingAuthManager(allow)
        monkeypatch.setattr(security, "get_auth_manager", lambda: manager)
        monkeypatch.setattr(page_access, "get_auth_manager", lambda: manager)
        return TestClient(ui.create_app()), manager

    return make


@pytest.mark.parametrize("path", READS)
def test_reads_ask_about_the_pipeline_dag(client_with, path: str) -> None:
    client, manager = client_with(False)
    response = client.get(path, headers={"Authorization": "Bearer alice"})
    assert response.status_code == 403, response.text
    assert manager.asked == [("GET", "RUN", "loan_stream_pipeline", "alice")]


def test_a_redrive_asks_about_the_redrive_dag(client_with) -> None:
    client, manager = client_with(False)
    response = client.post("/api/dead-letters/redrive?dag_id=evil", json={"run_id": "r1"},
                           headers={"Authorization": "Bearer bob", "X-Loanstream": "redrive"})  # fmt: skip
    assert response.status_code == 403
    assert manager.asked == [("POST", "RUN", "dead_letter_redrive", "bob")]
    client, manager = client_with(True)  # allowed: on to the request's own checks
    response = client.post("/api/dead-letters/redrive", json={"run_id": "r1"},
                           headers={"Authorization": "Bearer bob"})  # fmt: skip
    assert response.status_code == 400 and "X-Loanstream" in response.text
    assert manager.asked == [("POST", "RUN", "dead_letter_redrive", "bob")]


@pytest.mark.parametrize("path", [p.split("?")[0] for p in READS[1:]])
def test_no_credential_is_401_and_asks_nothing(client_with, path: str) -> None:
    client, manager = client_with(True)
    assert client.get(path).status_code == 401
    assert client.post("/api/dead-letters/redrive", json={}).status_code == 401
    assert manager.asked == []


def test_the_guarded_dags_are_the_dag_folders() -> None:
    from pathlib import Path

    from loanstream.airflow.page_access import PIPELINE_DAG_ID, REDRIVE_DAG_ID

    dags = Path(__file__).resolve().parents[2] / "dags"
    for dag_id in (PIPELINE_DAG_ID, REDRIVE_DAG_ID):
        assert f'dag_id="{dag_id}"' in (dags / f"{dag_id}.py").read_text(encoding="utf-8")


def test_no_redrive_without_its_audit_entry(client_with, monkeypatch: pytest.MonkeyPatch) -> None:
    """The request's audit entry is written first; when Airflow's audit log cannot be written,
    the redrive is refused before any database is touched."""
    from loanstream.airflow import audit, ui
    from loanstream.sink import redrive

    client, manager = client_with(True)
    written: list[tuple[str, str]] = []

    def failing_entry(event: str, *, user_name: str, dag_id: str, extra: dict) -> None:
        written.append((event, user_name))
        return None

    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("touched the database")

    monkeypatch.setattr(audit, "write_entry", failing_entry)
    monkeypatch.setattr(redrive, "redrive", never)
    monkeypatch.setattr(ui, "postgres_dsn", never)
    monkeypatch.setattr(ui, "_db", never)
    response = client.post("/api/dead-letters/redrive", json={"run_id": "r1"},
                           headers={"Authorization": "Bearer carol", "X-Loanstream": "redrive"})  # fmt: skip
    assert response.status_code == 503, response.text
    assert "audit log" in response.json()["error"] and "nothing was redriven" in response.json()["error"]
    assert written == [("loanstream.redrive.requested", "carol")]
    assert manager.asked == [("POST", "RUN", "dead_letter_redrive", "carol")]
