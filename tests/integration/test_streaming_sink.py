"""The sink as a stream on the real Kafka and Postgres: beside the producer, until the run is
over (run ledger), following the topic (``consume --follow``), and taking turns on a partition."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from loanstream.config import Settings
from loanstream.produce.producer import EventProducer
from loanstream.sink import ScoringSink, SinkStats
from loanstream.store.connect import pg_connect
from loanstream.store.ledger import RunLedger
from tests.helpers import REPO, query, temp_schema, temp_topic, unique_name

pytestmark = pytest.mark.integration


def ledger(dsn: str, run_id: str, topic: str) -> RunLedger:
    return RunLedger(lambda: pg_connect(dsn), run_id, topic)


def sink_in_thread(sink: ScoringSink, **kwargs) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def run() -> None:
        try:
            out["stats"] = sink.run(**kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the test
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_sink_scores_while_the_producer_sends_and_stops_when_the_run_is_stored(
    live_settings: Settings, shared_csv: Path
) -> None:
    run_id = unique_name("run")
    with temp_topic(live_settings) as topic, temp_schema(live_settings) as dsn:
        sink = ScoringSink(live_settings.kafka_config(), dsn, topic, group=unique_name("g"))
        thread, out = sink_in_thread(sink, ledger=ledger(dsn, run_id, topic))
        stats = EventProducer(live_settings.kafka_config(), topic).produce_csv(
            shared_csv, rate=400, max_events=800, run_id=run_id, ledger=ledger(dsn, run_id, topic)
        )
        done_at = time.monotonic()
        thread.join(30)
        assert not thread.is_alive() and "error" not in out, out
        result: SinkStats = out["stats"]
        ended_after = time.monotonic() - done_at
        ((rows, first_scored, last_event),) = query(
            dsn, "SELECT count(*), min(scored_at), max(event_time) FROM risk_scored"
        )
    assert stats.delivered == result.consumed == rows == 800
    assert result.stopped_by == "run-complete"
    assert first_scored < last_event, "rows were stored before the last event was sent"
    assert ended_after < 5, ended_after  # within about a second of the last event stored
    # natural batching: batches of what has arrived (waiting for 2,000 or a second would give
    # 2 or 3 batches over these 2 s)
    assert result.batches >= 8, result.batches


def test_sink_stores_what_arrived_when_the_producer_goes_silent(
    live_settings: Settings, shared_csv: Path
) -> None:
    run_id = unique_name("run")
    with temp_topic(live_settings) as topic, temp_schema(live_settings) as dsn:
        # a producer that reported 'producing' and then died without a word
        EventProducer(live_settings.kafka_config(), topic).produce_csv(shared_csv, max_events=60,
                                                                     run_id=run_id)  # fmt: skip
        ledger(dsn, run_id, topic).producing(str(shared_csv))
        sink = ScoringSink(live_settings.kafka_config(), dsn, topic, group=unique_name("g"))
        started = time.monotonic()
        result = sink.run(ledger=ledger(dsn, run_id, topic), stale_after=2)
        ((rows,),) = query(dsn, "SELECT count(*) FROM risk_scored")
    assert result.stopped_by == "producer-gone" and rows == 60
    assert time.monotonic() - started < 15


def test_a_second_consumer_waits_for_the_partition_then_finds_its_work_done(
    live_settings: Settings, shared_csv: Path
) -> None:
    run_id = unique_name("run")
    with temp_topic(live_settings, partitions=1) as topic, temp_schema(live_settings) as dsn:
        group = unique_name("g")
        first = ScoringSink(live_settings.kafka_config(), dsn, topic, group=group)
        thread, out = sink_in_thread(first, follow=True)  # holds the partition's lease
        time.sleep(1)
        EventProducer(live_settings.kafka_config(), topic).produce_csv(
            shared_csv, max_events=100, run_id=run_id, ledger=ledger(dsn, run_id, topic)
        )
        second = ScoringSink(live_settings.kafka_config(), dsn, topic, group=group)
        result = second.run(ledger=ledger(dsn, run_id, topic))
        first.stop()
        thread.join(30)
        ((rows, loans),) = query(dsn, "SELECT count(*), count(DISTINCT loan_id) FROM risk_scored")
    assert "error" not in out, out
    assert result.stopped_by == "run-complete" and result.consumed == 0
    assert result.waited_for_lease_seconds > 0
    assert out["stats"].consumed == rows == loans == 100


def test_consume_follow_scores_as_events_arrive_and_reports_on_sigint(
    live_settings: Settings, shared_csv: Path
) -> None:
    with temp_topic(live_settings) as topic, temp_schema(live_settings) as dsn:
        env = {**os.environ, "LOANSTREAM_PG_DSN": dsn, "PYTHONPATH": str(REPO / "plugins")}
        consumer = subprocess.Popen(
            [sys.executable, "-m", "loanstream.cli", "consume", "--follow", "--topic", topic,
             "--group", unique_name("g")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            time.sleep(2)
            for batch in range(2):  # two bursts with a pause: --follow does not stop when idle
                EventProducer(live_settings.kafka_config(), topic).produce_csv(
                    shared_csv, skip=batch * 50, max_events=50, run_id=f"cli{batch}"
                )
                time.sleep(2)
            deadline = time.monotonic() + 30
            while query(dsn, "SELECT count(*) FROM risk_scored")[0][0] < 100:
                assert time.monotonic() < deadline and consumer.poll() is None
                time.sleep(0.2)
        finally:
            consumer.send_signal(signal.SIGINT)
            out, err = consumer.communicate(timeout=30)
    assert consumer.returncode == 0, err[-2000:]
    stats = json.loads(out.strip().splitlines()[-1])
    assert stats["stopped_by"] == "stop-request" and stats["scored"] == 100
    assert "following the topic until interrupted" in err
