"""A real Prometheus scraping the running stack's /loanstream/metrics with the metrics token:
the target is up, its counters equal Postgres' counts after a run, the lag alert goes pending,
fires and resolves once the sink has scored the events, and a killed producer fires the
stalled-producer alert. A private Prometheus (devstack.prometheus, the class `make up` uses) on
a free port, with 1 s scrape and evaluation intervals and short ``for:`` settings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.process import free_port
from devstack.prometheus import Prometheus
from loanstream.config import Settings
from loanstream.produce.producer import EventProducer
from loanstream.sink import ScoringSink
from loanstream.store.connect import pg_connect
from loanstream.store.ledger import RunLedger
from tests.helpers import REPO, query, temp_topic, unique_name
from tests.monitoring_data import delete_seeded

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

TEST_SETTINGS = {
    "LOANSTREAM_PROMETHEUS_SCRAPE_INTERVAL": "1s",
    "LOANSTREAM_PROMETHEUS_EVALUATION_INTERVAL": "1s",
    "LOANSTREAM_ALERT_LAG_EVENTS": "50",
    "LOANSTREAM_ALERT_LAG_FOR": "6s",
    "LOANSTREAM_ALERT_HEARTBEAT_SECONDS": "5",
    "LOANSTREAM_ALERT_HEARTBEAT_FOR": "2s",
}


@pytest.fixture(scope="module")
def prom(airflow_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    base = tmp_path_factory.mktemp("prometheus")
    server = Prometheus(free_port(), urllib.parse.urlparse(airflow_url).netloc, home=base / "home",
                        run_dir=base, log_dir=base, env={**os.environ, **TEST_SETTINGS},
                        name="prometheus-test")  # fmt: skip
    server.write_files()
    server.start(60)
    try:
        yield server
    finally:
        server.stop(20)


def get(url: str, method: str = "GET", token: str | None = None, body: bytes | None = None,
        headers: dict[str, str] | None = None) -> tuple[int, bytes]:  # fmt: skip
    sent = {**(headers or {}), **({"Authorization": f"Bearer {token}"} if token else {})}
    req = urllib.request.Request(url, data=body, method=method, headers=sent)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    try:
        with urllib.request.build_opener(NoRedirect).open(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def values(prom: Prometheus, expr: str) -> dict[str, float]:
    """``{topic or run_id or "": value}`` of an instant query."""
    _, body = get(f"{prom.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    result = json.loads(body)["data"]["result"]
    return {r["metric"].get("topic") or r["metric"].get("run_id") or "": float(r["value"][1]) for r in result}


def alert_state(prom: Prometheus, name: str, label: str, value: str) -> str | None:
    _, body = get(f"{prom.url}/api/v1/alerts")
    for alert in json.loads(body)["data"]["alerts"]:
        if alert["labels"]["alertname"] == name and alert["labels"].get(label) == value:
            return str(alert["state"])
    return None


def wait_for(probe: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.3)
    pytest.fail(f"not within {timeout:.0f}s: {what}")


def forget(pg_dsn: str, run_id: str, topic: str) -> None:
    delete_seeded(pg_dsn, run_id)
    conn = pg_connect(pg_dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("DELETE FROM consumer_offsets WHERE topic = %s", (topic,))
    finally:
        conn.close()


def test_prometheus_scrapes_with_the_token_which_opens_nothing_else(prom: Prometheus, airflow_url: str) -> None:
    wait_for(lambda: values(prom, 'up{job="loanstream"}').get("") == 1, 60, "the loanstream target up")
    token = os.environ["LOANSTREAM_METRICS_TOKEN"]
    status, text = get(f"{airflow_url}/loanstream/metrics", token=token)
    assert status == 200 and b"# TYPE loanstream_events_scored_total counter" in text
    assert get(f"{airflow_url}/loanstream/metrics")[0] in (401, 403)  # anonymous
    wrong = token[:-1] + ("y" if token.endswith("x") else "x")  # a token ending in x: still wrong
    assert get(f"{airflow_url}/loanstream/metrics", token=wrong)[0] in (401, 403)
    for method, path in [("GET", "/loanstream/"), ("GET", "/loanstream/api/runs"),
                         ("GET", "/loanstream/api/lag"), ("GET", "/api/v2/dags"),
                         ("GET", "/api/v2/dags/loan_stream_pipeline/dagRuns")]:  # fmt: skip
        assert get(f"{airflow_url}{path}", method, token=token)[0] in (401, 403), path
    status, _ = get(f"{airflow_url}/loanstream/api/dead-letters/redrive", "POST", token=token, body=b"{}",
                    headers={"Content-Type": "application/json", "X-Loanstream": "redrive"})  # fmt: skip
    assert status in (401, 403)


def test_lag_alert_fires_then_resolves_and_the_counters_equal_postgres(
    prom: Prometheus, settings: Settings, pg_dsn: str, shared_csv: Path
) -> None:
    run_id = unique_name("prom")
    with temp_topic(settings, prefix="prom") as topic:
        ledger = RunLedger(lambda: pg_connect(pg_dsn), run_id, topic)
        try:
            EventProducer(settings.kafka_config(), topic).produce_csv(
                shared_csv, max_events=200, run_id=run_id, ledger=ledger)  # fmt: skip
            seen: list[str] = []

            def firing() -> bool:
                state = alert_state(prom, "LoanstreamConsumerLagHigh", "topic", topic)
                if state and (not seen or seen[-1] != state):
                    seen.append(state)
                return state == "firing"

            wait_for(firing, 60, "LoanstreamConsumerLagHigh firing")
            assert seen[0] == "pending", seen  # pending for LOANSTREAM_ALERT_LAG_FOR first
            assert values(prom, f'sum by (topic) (loanstream_consumer_lag_events{{topic="{topic}"}})')[topic] == 200
            stats = ScoringSink(settings.kafka_config(), pg_dsn, topic, group=settings.consumer_group).run(ledger=ledger)
            assert stats.consumed == 200
            wait_for(lambda: alert_state(prom, "LoanstreamConsumerLagHigh", "topic", topic) is None, 30,
                     "LoanstreamConsumerLagHigh resolved")  # fmt: skip
            ((scored,),) = query(pg_dsn, "SELECT count(*) FROM risk_decisions WHERE src_topic = %s", (topic,))
            ((dead,),) = query(pg_dsn, "SELECT count(*) FROM dead_letters WHERE topic = %s", (topic,))
            ((produced,),) = query(pg_dsn, "SELECT sum(delivered) FROM run_ledger WHERE topic = %s", (topic,))
            want = {"produced": produced, "scored": scored, "dead_lettered": dead}
            assert produced == 200 and scored + dead == 200

            def counters() -> dict[str, float] | None:
                found = {k: values(prom, f'loanstream_events_{k}_total{{topic="{topic}"}}').get(topic) for k in want}
                return found if found == want else None

            wait_for(counters, 30, f"Prometheus' counters equal Postgres' {want}")
        finally:
            forget(pg_dsn, run_id, topic)


PRODUCER = """
import sys
from loanstream.config import Settings
from loanstream.produce.producer import EventProducer
from loanstream.store.connect import pg_connect
from loanstream.store.ledger import RunLedger
csv, run_id, topic, dsn = sys.argv[1:]
ledger = RunLedger(lambda: pg_connect(dsn), run_id, topic)
EventProducer(Settings.from_env().kafka_config(), topic).produce_csv(csv, rate=5, max_events=10000,
                                                                     run_id=run_id, ledger=ledger)
"""


def test_a_killed_producer_fires_the_stalled_producer_alert(
    prom: Prometheus, settings: Settings, pg_dsn: str, shared_csv: Path
) -> None:
    run_id = unique_name("promkill")
    with temp_topic(settings, prefix="prom") as topic:
        env = {**os.environ, "PYTHONPATH": str(REPO / "plugins")}
        producer = subprocess.Popen([sys.executable, "-c", PRODUCER, str(shared_csv), run_id, topic, pg_dsn],
                                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        try:
            wait_for(lambda: query(pg_dsn, "SELECT delivered FROM run_ledger WHERE run_id = %s AND "
                                   "state = 'producing' AND delivered > 0", (run_id,)), 60,
                     "the producer producing")  # fmt: skip
            producer.send_signal(signal.SIGKILL)
            producer.wait(10)
            killed_at = time.monotonic()
            wait_for(lambda: alert_state(prom, "LoanstreamProducerStalled", "run_id", run_id) == "firing", 60,
                     "LoanstreamProducerStalled firing")  # fmt: skip
            assert time.monotonic() - killed_at >= 5  # not before its heartbeat was 5 s old
        finally:
            if producer.poll() is None:
                producer.kill()
                producer.wait(10)
            forget(pg_dsn, run_id, topic)
