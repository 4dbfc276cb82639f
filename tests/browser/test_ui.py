"""Issue 6: log in to the Airflow UI, trigger the pipeline from its params form, read a task log.

Selectors are roles, labels and visible text, except where the UI gives nothing better:
the run's state badge (``data-testid="state-badge"``) and the logical-date picker
(``data-testid="datetime-input"``). The Topic text box has no accessible name (its
``<label for>`` does not match the input's id), so it is found through its field group.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from airflow_api import DagRunner  # scripts/, on sys.path via tests/conftest.py
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import Shots

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

DAG_ID = "loan_stream_pipeline"
MAX_EVENTS = 300
RUN_TIMEOUT_S = float(os.environ.get("LOANSTREAM_BROWSER_RUN_TIMEOUT", "300"))
SUMMARY = re.compile(r"produced (\d+), scored (\d+), dead-lettered (\d+), missing (\d+)")


def param_field(dialog: Locator, title: str, role: str) -> Locator:
    """The input of the trigger form's param titled ``title`` (label text, ``*`` if required)."""
    label = dialog.page.locator("label").filter(
        has_text=re.compile(rf"^\s*{re.escape(title)}\s*\*?\s*$")
    )
    return dialog.get_by_role("group").filter(has=label).get_by_role(role)  # type: ignore[arg-type]


def run_state_badge(page: Page, run_id: str) -> Locator:
    """The state badge beside the run id in the Dag Run page's header."""
    heading = page.get_by_role("heading", name=run_id, exact=True)
    return page.locator("div:has(> h2)").filter(has=heading).get_by_test_id("state-badge")


def wait_for_run_state(page: Page, run_id: str, timeout: float) -> str:
    """Poll the run page (reloading it) until the badge says success/failed; return the state."""
    badge = run_state_badge(page, run_id)
    deadline = time.monotonic() + timeout
    state = "(no badge yet)"
    while time.monotonic() < deadline:
        try:
            expect(badge).to_be_visible(timeout=15_000)
            state = badge.inner_text(timeout=5_000).strip().lower()
        except (AssertionError, PlaywrightError):  # not rendered yet, or re-rendering
            state = "(no badge yet)"
        if state in ("success", "failed"):
            return state
        time.sleep(5)
        page.reload(wait_until="domcontentloaded")
    raise AssertionError(f"run {run_id} still '{state}' in the UI after {timeout:.0f}s")


@pytest.fixture
def ui_topic(kafka_admin) -> Iterator[str]:
    """A unique topic name for the run (the Dag creates it); deleted afterwards."""
    topic = f"ui_{uuid.uuid4().hex[:10]}"
    yield topic
    for future in kafka_admin.delete_topics([topic], operation_timeout=15).values():
        try:
            future.result(timeout=20)
        except Exception:  # noqa: BLE001 - best effort: the run may have failed before creating it
            pass


def test_trigger_from_ui_form_succeeds_and_summarize_log_shows_counts(
    page: Page, shots: Shots, dag_runner: DagRunner, airflow_url: str, ui_topic: str
) -> None:
    """Log in, trigger with params from the form, wait for success, open summarize's log."""
    topic = ui_topic
    password = os.environ["LOANSTREAM_AIRFLOW_ADMIN_PASSWORD"]
    # Precondition (not the subject of this test): a paused Dag's run would never start.
    dag_runner.wait_for_dag(DAG_ID)
    dag_runner.api.request(
        "PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False}, {"update_mask": ["is_paused"]}
    )

    with shots.step("log in"):
        page.goto(f"{airflow_url}/", wait_until="domcontentloaded")
        expect(page.get_by_role("heading", name="Sign into Airflow")).to_be_visible()
        shots.take("login-page")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/auth/login" not in url, timeout=30_000)
        expect(page.get_by_role("link", name="Dags", exact=True)).to_be_visible()

    with shots.step("open the Dag page"):
        page.goto(f"{airflow_url}/dags/{DAG_ID}", wait_until="domcontentloaded")
        expect(page.get_by_role("heading", name=DAG_ID, exact=True)).to_be_visible()
        expect(page.get_by_role("link", name="summarize", exact=True)).to_be_visible()
        shots.take("dag-page")

    with shots.step("fill the trigger form"):
        page.get_by_role("button", name="Trigger Dag").click()
        dialog = page.get_by_role("dialog").filter(
            has=page.get_by_role("heading", name=f"Trigger Dag - {DAG_ID}")
        )
        expect(dialog).to_be_visible()
        # No logical date: the form's default has minute precision, so two UI triggers in
        # the same minute would collide (HTTP 409); without one each run is unique.
        dialog.get_by_role("group").filter(has_text="Logical Date").get_by_test_id(
            "datetime-input"
        ).click()
        page.get_by_role("button", name="Clear start date").click()
        dialog.get_by_role("heading", name=f"Trigger Dag - {DAG_ID}").click()  # close picker
        expect(page.get_by_role("button", name="Clear start date")).to_be_hidden()
        expect(dialog.get_by_text("Select date and time")).to_be_visible()

        # a text input with a list of the CSVs in the data directories (<datalist>): combobox
        csv_path = param_field(dialog, "CSV path", "combobox")
        rate = dialog.get_by_role("spinbutton", name="Rate (events/s)")
        max_events = dialog.get_by_role("spinbutton", name="Max events")
        topic_box = param_field(dialog, "Topic", "textbox")
        expect(csv_path).to_have_value(re.compile(r"include/data/loan_applications_sample\.csv$"))
        default_csv = csv_path.input_value()
        max_events.fill(str(MAX_EVENTS))
        rate.fill("0")
        topic_box.fill(topic)
        topic_box.press("Tab")
        expect(max_events).to_have_value(str(MAX_EVENTS))
        expect(rate).to_have_value("0")
        expect(topic_box).to_have_value(topic)
        max_events.scroll_into_view_if_needed()
        shots.take("trigger-form-filled")

    expected_conf = {"csv_path": default_csv, "rate": 0, "max_events": MAX_EVENTS, "topic": topic}
    with shots.step("submit the trigger form"):
        submit = dialog.get_by_role("button", name="Trigger", exact=True)
        with page.expect_response(
            lambda r: (
                r.request.method == "POST" and r.url.endswith(f"/api/v2/dags/{DAG_ID}/dagRuns")
            )
        ) as response_info:
            submit.click()
        response = response_info.value
        assert response.ok, f"UI trigger got HTTP {response.status}: {response.text()[:500]}"
        run_id: str = response.json()["dag_run_id"]
        expect(dialog).to_be_hidden()
        page.wait_for_url(re.compile(r"/runs/"), timeout=30_000)
        # the run page renders its heading once its API calls answer: slow on a busy machine
        expect(page.get_by_role("heading", name=run_id, exact=True)).to_be_visible(timeout=30_000)

    with shots.step("wait for the run to succeed in the UI"):
        state = wait_for_run_state(page, run_id, RUN_TIMEOUT_S)
        shots.take(f"run-{state}", full_page=True)
        assert state == "success", (
            f"run {run_id} ended '{state}'; tasks: {dag_runner.task_states(DAG_ID, run_id)}"
        )
        expect(page.get_by_role("table").get_by_text("Success", exact=True)).not_to_have_count(0)

    with shots.step("open the summarize task's log"):
        page.get_by_role("table").get_by_role("link", name="summarize", exact=True).click()
        page.wait_for_url(re.compile(r"/tasks/summarize(\?|$)"), timeout=30_000)
        expect(page.get_by_role("link", name="Logs", exact=True)).to_be_visible()
        line = page.get_by_text(re.compile(rf"run {re.escape(run_id)}: produced \d+")).first
        expect(line).to_be_visible(timeout=60_000)
        shots.take("task-log-open")
        text = line.inner_text()
        assert f"produced {MAX_EVENTS}" in text, f"summarize log line in the UI: {text!r}"
        produced, scored, dead, missing = map(int, SUMMARY.search(text).groups())  # type: ignore[union-attr]
        assert (produced, missing) == (MAX_EVENTS, 0), text
        assert scored + dead == MAX_EVENTS, text

    with shots.step("cross-check the run over the REST API"):
        run = dag_runner.api.request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id)}")
        assert run["state"] == "success", run
        assert run["triggered_by"] == "ui" and run["run_type"] == "manual", run
        assert run["triggering_user_name"] == "admin", run
        assert run["logical_date"] is None, run
        conf = run["conf"]
        assert {k: conf.get(k) for k in expected_conf} == expected_conf, conf
        assert f"produced {MAX_EVENTS}," in dag_runner.log(DAG_ID, run_id, "summarize")
