"""Issue 16: the Loanstream page in the real Chromium. Log in to Airflow, follow the
navigation's Loanstream link, read the counts of a run this test triggered and compare them
with Postgres, open a dead letter whose raw value is hostile markup (shown as text, never run),
and redrive the run's dead letters from the page.

The page is served by the shared API server if it already runs this checkout's plugin, else
by a private one (tests/private_airflow.py); the Dag run itself runs on the shared stack.
Screenshots: tests/artifacts/browser/; the page's picture for the README: docs/loanstream-page.png, with
LOANSTREAM_UPDATE_DOCS_SCREENSHOT=1.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Shots
from tests.helpers import query, unique_name
from tests.monitoring_data import HOSTILE, SeededRun
from tests.monitoring_data import seeded as seeded_run
from tests.private_airflow import loanstream_server

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

DAG_ID = "loan_stream_pipeline"
MAX_EVENTS = 300
RATE = 100  # paced: the consumers stream beside the producer (a curve worth a screenshot)
DOCS_SHOT = Path(__file__).resolve().parents[2] / "docs" / "loanstream-page.png"


@pytest.fixture(scope="module")
def page_url(airflow_url: str) -> Iterator[str]:
    with loanstream_server(airflow_url) as url:
        yield url


@pytest.fixture
def seeded(pg_dsn: str, shared_csv) -> Iterator[SeededRun]:
    with seeded_run(pg_dsn, shared_csv, "ui_dead", started_ago="3 hours") as run:
        yield run


def counts_on_page(page: Page) -> dict[str, int]:
    found = {}
    for key in ("produced", "scored", "dead_lettered", "missing", "resent", "redriven"):
        text = page.locator(f"#count-{key}").inner_text().replace(",", "")
        found[key] = int(text)
    return found


def counts_in_postgres(pg_dsn: str, run_id: str) -> dict[str, int]:
    (produced,) = query(pg_dsn, "SELECT delivered FROM run_ledger WHERE run_id = %s", (run_id,))[0]
    (scored,) = query(pg_dsn, "SELECT count(*) FROM risk_decisions WHERE run_id = %s", (run_id,))[0]
    dead, redriven = query(pg_dsn, "SELECT count(*) FILTER (WHERE resolved_at IS NULL), count(*) "
                           "FILTER (WHERE resolved_at IS NOT NULL) FROM dead_letters WHERE "
                           "run_id = %s", (run_id,))[0]  # fmt: skip
    balance = produced - scored - dead
    return {"produced": produced, "scored": scored, "dead_lettered": dead,
            "missing": max(0, balance), "resent": max(0, -balance),
            "redriven": redriven}  # fmt: skip


def select_run(page: Page, run_id: str) -> None:
    page.evaluate("id => { location.hash = 'run=' + encodeURIComponent(id); }", run_id)
    expect(page.locator("#run-id")).to_have_text(run_id, timeout=60_000)
    expect(page.locator("#count-produced")).to_be_visible()


def test_page_shows_a_triggered_run_like_postgres_and_redrives_dead_letters(
    page: Page, shots: Shots, dag_runner, page_url: str, pg_dsn: str, resources,
    seeded: SeededRun,
) -> None:  # fmt: skip
    topic = resources.adopt_topic(unique_name("ui_page"))
    run_id = dag_runner.trigger(DAG_ID, {"max_events": MAX_EVENTS, "rate": RATE, "topic": topic})
    password = os.environ["LOANSTREAM_AIRFLOW_ADMIN_PASSWORD"]

    with shots.step("log in"):
        page.goto(f"{page_url}/", wait_until="domcontentloaded")
        expect(page.get_by_role("heading", name="Sign into Airflow")).to_be_visible(
            timeout=30_000
        )
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/auth/login" not in url, timeout=30_000)
        # the UI's translations load after its shell (until then links read "nav.dags")
        expect(page.get_by_role("link", name="Dags", exact=True)).to_be_visible(timeout=30_000)

    with shots.step("follow the navigation's Loanstream link"):
        link = page.get_by_role("link", name="Loanstream")
        if not link.count():  # under the Plugins menu
            page.get_by_role("button", name=re.compile("Plugins", re.I)).click()
            link = page.get_by_role("menuitem", name="Loanstream").or_(
                page.get_by_role("link", name="Loanstream"))  # fmt: skip
        link.first.click()
        # Airflow's UI opens /plugin/loanstream, then mirrors the frame's own path into the
        # address bar once the frame has loaded (/plugin/loanstream/loanstream/): either is
        # the page (CI saw the second before the first was checked)
        page.wait_for_url(re.compile(r"/plugin/loanstream(/loanstream/?)?$"), timeout=30_000)
        frame = page.frame_locator("iframe")
        expect(frame.get_by_role("heading", name="Last runs")).to_be_visible(timeout=60_000)
        expect(frame.locator("#count-produced")).to_be_visible(timeout=60_000)
        shots.take("loanstream-in-airflow-nav")

    with shots.step("open the mirrored address directly (a bookmark)"):
        page.goto(f"{page_url}/plugin/loanstream/loanstream/", wait_until="domcontentloaded")
        expect(page.frame_locator("iframe").get_by_role("heading", name="Last runs")).to_be_visible(
            timeout=60_000
        )

    with shots.step("wait for the triggered run"):
        state = dag_runner.wait(DAG_ID, run_id, timeout=300)
        assert state == "success", dag_runner.task_states(DAG_ID, run_id)

    with shots.step("read the run's counts and compare them with Postgres"):
        page.goto(f"{page_url}/loanstream/", wait_until="domcontentloaded")
        row = page.locator(f'#runs tr[data-run-id="{run_id}"]')
        expect(row).to_be_visible(timeout=60_000)
        select_run(page, run_id)
        expect(page.locator("#count-state")).to_have_text("complete")
        expect(page.locator("#count-dag_run_state")).to_have_text("success")
        produce_xcom = dag_runner.xcom(DAG_ID, run_id, "produce_events")
        skipped = sum(k["count"] for k in (produce_xcom.get("skipped_lines") or {}).values())
        expect(page.locator("#count-skipped_lines")).to_have_text(str(skipped))
        on_page = counts_on_page(page)
        assert on_page == counts_in_postgres(pg_dsn, run_id)
        assert on_page["produced"] == MAX_EVENTS and on_page["missing"] == 0, on_page
        expect(page.locator("#chart-throughput polyline[data-series=stored]")).to_have_count(1)
        expect(page.locator("#chart-bands rect")).not_to_have_count(0)
        expect(page.locator("#lag tbody tr")).to_have_count(3)  # the topic's partitions
        shots.take("run-counts", full_page=True)
        if os.environ.get("LOANSTREAM_UPDATE_DOCS_SCREENSHOT") == "1":  # not on every run
            page.screenshot(path=str(DOCS_SHOT), full_page=True)

    with shots.step("open a dead letter with a hostile raw value"):
        page.goto(f"{page_url}/loanstream/#run={quote(seeded.run_id, safe='')}",
                  wait_until="domcontentloaded")  # fmt: skip
        expect(page.locator("#run-id")).to_have_text(seeded.run_id, timeout=60_000)
        before = counts_on_page(page)
        assert before == counts_in_postgres(pg_dsn, seeded.run_id)
        assert before["dead_lettered"] == seeded.dead
        title = page.title()
        page.locator(f'button[data-dead-letter="{seeded.hostile_ids[0]}"]').click()
        dialog = page.locator("#dead-letter")
        expect(dialog).to_be_visible()
        expect(dialog.locator("#dl-raw")).to_have_text(HOSTILE[0].decode())
        expect(dialog.locator('[data-field="key"]')).to_have_text("<b>key-0</b>")
        assert page.evaluate("() => window.pwned") is None, "a raw value ran as script"
        assert page.title() == title
        assert page.locator("#dead-examples img, #dead-letter img, #dead-letter b").count() == 0
        shots.take("dead-letter-open")
        dialog.get_by_role("button", name="Close").click()

    with shots.step("redrive the run's dead letters from the page"):
        page.get_by_role("button", name="Redrive dead letters").click()
        result = page.locator("#redrive-result")
        expect(result).to_have_text(re.compile(r"resolved 1, still failing 3"), timeout=60_000)
        expect(page.locator("#count-redriven")).to_have_text("1", timeout=30_000)
        after = counts_on_page(page)
        assert after == counts_in_postgres(pg_dsn, seeded.run_id)
        assert (after["scored"], after["dead_lettered"]) == (before["scored"] + 1,
                                                             before["dead_lettered"] - 1)  # fmt: skip
        resolved = page.locator(f'tr[data-dead-letter-row="{seeded.fixable_ids[0]}"] '
                                '[data-state]')  # fmt: skip
        expect(resolved).to_have_attribute("data-state", "resolved")
        shots.take("after-redrive", full_page=True)
