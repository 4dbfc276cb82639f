"""Prometheus' side of the stack: the rendered configuration and alert rules pass promtool, the
thresholds are settings, and the metrics token opens the metrics only."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from devstack import prometheus
from devstack.process import ServiceError
from loanstream.monitoring import metrics
from loanstream.monitoring.access import metrics_token_matches

pytestmark = pytest.mark.unit
TOKEN = "t" * 32
ALERTS = ("LoanstreamConsumerLagHigh", "LoanstreamDeadLettersRising", "LoanstreamProducerStalled",
          "LoanstreamDagRunFailed", "LoanstreamScoringStopped", "LoanstreamMetricsDown")  # fmt: skip


def server(tmp_path: Path, **settings: str) -> prometheus.Prometheus:
    env = {"LOANSTREAM_METRICS_TOKEN": TOKEN, **{f"LOANSTREAM_{k}": v for k, v in settings.items()}}
    return prometheus.Prometheus(19090, "127.0.0.1:18080", home=tmp_path / "prom", run_dir=tmp_path,
                                 log_dir=tmp_path, env=env)  # fmt: skip


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool: make setup installs prometheus")
def test_rendered_config_and_rules_pass_promtool(tmp_path: Path) -> None:
    result = prometheus.check(tmp_path, {})
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout
    rules = (tmp_path / "alerts.yml").read_text()
    for alert in ALERTS:
        assert f"alert: {alert}" in rules
    assert rules.count("summary:") == rules.count("description:") == len(ALERTS)


def test_thresholds_are_rendered_from_settings_and_the_token_file_is_private(tmp_path: Path) -> None:
    prom = server(tmp_path, ALERT_LAG_EVENTS="50", ALERT_LAG_FOR="3s", PROMETHEUS_SCRAPE_INTERVAL="1s")
    prom.write_files()
    rules = (prom.home / "alerts.yml").read_text()
    assert "sum by (topic) (loanstream_consumer_lag_events) > 50\n        for: 3s" in rules
    assert "loanstream_producer_heartbeat_age_seconds > 60" in rules  # a default
    config = prom.config_path.read_text()
    assert "scrape_interval: 1s" in config and TOKEN not in config
    assert f"credentials_file: {prom.home / 'metrics-token'}" in config
    assert (prom.home / "metrics-token").read_text().strip() == TOKEN
    assert stat.S_IMODE((prom.home / "metrics-token").stat().st_mode) == 0o600
    assert stat.S_IMODE(prom.home.stat().st_mode) == 0o700
    assert not any(TOKEN in arg for arg in prom.argv())  # never on its command line
    assert "--web.listen-address=127.0.0.1:19090" in prom.argv()


def test_a_changed_setting_restarts_it_and_bad_values_are_refused(tmp_path: Path) -> None:
    prom = server(tmp_path)
    prom.write_stamp()
    assert prom.stamp_current()
    assert not server(tmp_path, ALERT_LAG_EVENTS="7").stamp_current()
    with pytest.raises(ServiceError, match="LOANSTREAM_ALERT_LAG_FOR"):
        server(tmp_path, ALERT_LAG_FOR="five minutes").write_files()
    with pytest.raises(ServiceError, match="LOANSTREAM_METRICS_TOKEN unset"):
        prometheus.Prometheus(1, "x:1", home=tmp_path / "p2", run_dir=tmp_path, log_dir=tmp_path,
                              env={}).write_files()  # fmt: skip


def test_the_metrics_token_is_compared_exactly() -> None:
    assert metrics_token_matches(f"Bearer {TOKEN}", TOKEN)
    assert metrics_token_matches(f"bearer  {TOKEN} ", TOKEN)
    for header in (None, "", TOKEN, f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "):
        assert not metrics_token_matches(header, TOKEN)
    assert not metrics_token_matches("Bearer short", "short")  # too short to be trusted
    assert not metrics_token_matches("Bearer ", "")  # none configured


def test_render_gives_counters_by_topic_runs_heartbeats_and_dag_runs() -> None:
    text = metrics.render(
        totals=None, last_run=None, lag=None,
        topics={"b": {"produced": 5, "scored": 4, "dead_lettered": 1}, "a": {"produced": 0}},
        runs=[{"run_id": "r2", "topic": "b", "state": "producing", "heartbeat_age": 61.5},
              {"run_id": "r1", "topic": "a", "state": "complete", "heartbeat_age": None}],
        dag_runs={"loan_stream_pipeline": {"failed": 1, "success": 3}},
    )  # fmt: skip
    assert 'loanstream_events_produced_total{topic="a"} 0' in text
    assert 'loanstream_events_scored_total{topic="b"} 4' in text
    assert 'loanstream_events_dead_lettered_total{topic="b"} 1' in text
    assert 'loanstream_run_state{run_id="r1",topic="a",state="complete"} 1' in text
    assert 'loanstream_producer_heartbeat_age_seconds{run_id="r2",topic="b"} 61.5' in text
    assert 'loanstream_producer_heartbeat_age_seconds{run_id="r1"' not in text
    assert 'loanstream_dag_runs_total{dag_id="loan_stream_pipeline",state="failed"} 1' in text
    names = {line.split()[2] for line in text.splitlines() if line.startswith("# HELP")}
    for name in names:  # units in the name: a count of events or runs, or seconds
        assert name.endswith(("_total", "_seconds", "_events", "_state")), name
