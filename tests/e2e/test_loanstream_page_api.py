"""The Loanstream page, API and metrics inside a real Airflow API server (this checkout's
plugins: see tests/private_airflow.py): Airflow's login guards all of it, and the numbers are
Postgres' own."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest

from tests.helpers import query
from tests.monitoring_data import HOSTILE, SeededRun
from tests.monitoring_data import seeded as seeded_run
from tests.private_airflow import loanstream_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

PROTECTED = [
    ("GET", "/loanstream/api/runs"),
    ("GET", "/loanstream/api/runs/x"),
    ("GET", "/loanstream/api/lag"),
    ("GET", "/loanstream/api/dead-letters"),
    ("GET", "/loanstream/api/dead-letters/1"),
    ("GET", "/loanstream/metrics"),
    ("POST", "/loanstream/api/dead-letters/redrive"),
]


def call(url: str, method: str = "GET", token: str | None = None, body: dict | None = None,
         headers: dict | None = None, cookie: str | None = None) -> tuple[int, dict, bytes]:  # fmt: skip
    sent = dict(headers or {})
    if token:
        sent["Authorization"] = f"Bearer {token}"
    if cookie:
        sent["Cookie"] = f"_token={cookie}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=sent)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=60) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture(scope="module")
def page_url(airflow_url: str) -> Iterator[str]:
    with loanstream_server(airflow_url) as url:
        yield url


@pytest.fixture(scope="module")
def token(page_url: str) -> str:
    status, _, body = call(f"{page_url}/auth/token", "POST", body={
        "username": "admin", "password": os.environ["LOANSTREAM_AIRFLOW_ADMIN_PASSWORD"]})  # fmt: skip
    assert status in (200, 201), body
    return json.loads(body)["access_token"]


@pytest.fixture
def seeded(pg_dsn: str, shared_csv) -> Iterator[SeededRun]:
    # two hours old: never "the last run" of anyone's page
    with seeded_run(pg_dsn, shared_csv, "e2e_page", started_ago="2 hours") as run:
        yield run


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_no_token_no_data(page_url: str, method: str, path: str) -> None:
    body = {} if method == "POST" else None
    status, _, text = call(page_url + path, method, body=body)
    assert status in (401, 403), (path, status, text[:200])
    status, _, _ = call(page_url + path, method, token="not.a.jwt", body=body)
    assert status in (401, 403)
    status, _, _ = call(page_url + path, method, cookie="forged", body=body)
    assert status in (401, 403)


def test_the_page_redirects_to_the_login_and_back(page_url: str, token: str) -> None:
    status, headers, _ = call(f"{page_url}/loanstream/")
    assert status in (302, 303, 307)
    target = urllib.parse.urlparse(headers["location"])
    assert target.path.startswith("/auth/login")
    assert urllib.parse.parse_qs(target.query)["next"] == ["/loanstream/"]
    status, headers, html = call(f"{page_url}/loanstream/", cookie=token)
    assert status == 200 and b'<base href="/loanstream/">' in html
    assert "script-src 'self'" in headers["content-security-policy"]
    assert b"<script>" not in html  # no inline script: the CSP would refuse it anyway
    _, _, plugins = call(f"{page_url}/api/v2/plugins", token=token)
    views = [v for p in json.loads(plugins)["plugins"] for v in p["external_views"]]
    assert {"name": "Loanstream", "href": "/loanstream/", "url_route": "loanstream"}.items() <= \
        next(v for v in views if v["name"] == "Loanstream").items()  # fmt: skip


def test_api_and_metrics_equal_postgres_and_redrive_once(
    page_url: str, token: str, seeded: SeededRun, pg_dsn: str
) -> None:
    run_path = f"{page_url}/loanstream/api/runs/{urllib.parse.quote(seeded.run_id, safe='')}"
    status, headers, body = call(run_path, token=token)
    assert status == 200 and headers["content-type"].startswith("application/json")
    run = json.loads(body)
    (scored,) = query(pg_dsn, "SELECT count(*) FROM risk_decisions WHERE run_id = %s",
                      (seeded.run_id,))[0]  # fmt: skip
    (dead,) = query(pg_dsn, "SELECT count(*) FROM dead_letters WHERE run_id = %s",
                    (seeded.run_id,))[0]  # fmt: skip
    assert (run["produced"], run["scored"], run["dead_lettered"], run["missing"]) == (
        seeded.produced, scored, dead, 0)  # fmt: skip
    status, _, body = call(f"{page_url}/loanstream/api/dead-letters?run_id="
                           f"{urllib.parse.quote(seeded.run_id)}", token=token)  # fmt: skip
    letters = json.loads(body)
    shown = {d["id"]: d["raw_preview"] for d in letters["examples"]}
    assert shown[seeded.hostile_ids[0]] == HOSTILE[0].decode()  # as data, in JSON
    status, headers, body = call(f"{page_url}/loanstream/metrics", token=token)
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    (produced_total,) = query(pg_dsn, "SELECT sum(delivered) FROM run_ledger")[0]
    assert "loanstream_last_run_latency_seconds_bucket{" in text
    assert any(line.startswith("loanstream_events_produced_total{topic=") for line in text.splitlines())
    assert produced_total >= seeded.produced
    # a redrive: refused without the page's header (a cross-site form cannot send it)
    redrive = f"{page_url}/loanstream/api/dead-letters/redrive"
    status, _, _ = call(redrive, "POST", cookie=token, body={"run_id": seeded.run_id})
    assert status == 400
    status, _, body = call(redrive, "POST", token=token, body={"run_id": seeded.run_id},
                           headers={"X-Loanstream": "redrive"})  # fmt: skip
    result = json.loads(body)
    assert status == 200 and (result["resolved"], result["still_failing"]) == (1, len(HOSTILE))
    assert query(pg_dsn, "SELECT DISTINCT resolved_by FROM dead_letters WHERE run_id = %s AND "
                 "resolved_at IS NOT NULL", (seeded.run_id,)) == [("admin",)]  # fmt: skip
    status, _, body = call(f"{page_url}/api/v2/eventLogs?event=loanstream.redrive&owner=admin"
                           "&order_by=-id&limit=20", token=token)  # fmt: skip
    assert status == 200 and result["redrive_id"] in body.decode()  # Airflow's audit log
    status, _, body = call(redrive, "POST", token=token, body={"run_id": seeded.run_id},
                           headers={"X-Loanstream": "redrive"})  # fmt: skip
    assert json.loads(body)["resolved"] == 0
    _, _, body = call(run_path, token=token)
    after = json.loads(body)
    assert (after["scored"], after["dead_lettered"], after["redriven"], after["missing"]) == (
        scored + 1, dead - 1, 1, 0)  # fmt: skip
    status, _, body = call(redrive, "POST", token=token, body={"run_id": "x" * 300},
                           headers={"X-Loanstream": "redrive"})  # fmt: skip
    assert status == 422, body
