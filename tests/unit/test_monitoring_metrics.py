"""The Prometheus text of /loanstream/metrics: well-formed, label values escaped."""

from __future__ import annotations

import pytest

from loanstream.monitoring import metrics

pytestmark = pytest.mark.unit


def test_render_escapes_labels_and_gives_a_cumulative_histogram() -> None:
    run = {
        "run_id": 'evil"run\\\nid', "state": "complete", "produced": 5, "scored": 4,
        "dead_lettered": 1, "missing": 0, "redriven": 0,
        "latency_histogram": {"buckets_ms": [(5, 1), (10, 3)], "count": 4, "sum_ms": 40.0},
    }  # fmt: skip
    text = metrics.render(totals={"produced": 5, "dead_open": 1, "dead_redriven": 0},
                          last_run=run, lag={"t": {1: 2, 0: 0}},
                          errors={"lag:x": "boom"})  # fmt: skip
    escaped = 'run_id="evil\\"run\\\\\\nid"'
    assert f'loanstream_last_run_events{{{escaped},kind="scored"}} 4' in text
    assert f'loanstream_last_run_latency_seconds_bucket{{{escaped},le="0.005"}} 1' in text
    assert f'loanstream_last_run_latency_seconds_bucket{{{escaped},le="+Inf"}} 4' in text
    assert f"loanstream_last_run_latency_seconds_sum{{{escaped}}} 0.04" in text
    lag = [line for line in text.splitlines() if line.startswith("loanstream_consumer_lag")]
    assert lag == ['loanstream_consumer_lag_events{topic="t",partition="0"} 0',
                   'loanstream_consumer_lag_events{topic="t",partition="1"} 2']  # fmt: skip
    assert 'loanstream_scrape_error{source="lag:x"} 1' in text
    for line in text.splitlines():  # every sample line: name{labels} value, one line each
        assert line.startswith("# ") or line.rsplit(" ", 1)[1].replace(".", "").isdigit()


def test_render_without_data_is_empty_but_valid() -> None:
    assert metrics.render(totals=None, last_run=None, lag=None) == "\n"
