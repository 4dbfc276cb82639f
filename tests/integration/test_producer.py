"""The producer on the real broker: every row once, keyed, partitioned by key, with lineage."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from loanstream.config import Settings
from loanstream.contract import fields
from loanstream.produce.events import read_header
from loanstream.produce.producer import EventProducer, ProduceError
from tests.helpers import (
    murmur2_partition,
    read_events,
    read_topic,
    temp_topic,
    write_loans_csv,
)

pytestmark = pytest.mark.integration


def test_every_row_arrives_once_keyed_partitioned_with_headers(
    live_settings: Settings, shared_csv: Path
) -> None:
    """Read as a downstream team reads it (the stock deserializer, the writer's schema from the
    registry): every row once, typed, with the contract's fields only and its lineage."""
    with temp_topic(live_settings, partitions=3) as topic:
        before = datetime.now(UTC)
        stats = EventProducer(live_settings.kafka_config(), topic).produce_csv(
            shared_csv, run_id="run-42"
        )
        messages = read_events(live_settings, topic)
    assert (stats.sent, stats.delivered, stats.failed, stats.rejected) == (2000, 2000, 0, 0)
    assert stats.value_schema["subject"] == f"{topic}-value"
    assert {m.value()[1:5] for m, _ in messages} == {stats.value_schema["id"].to_bytes(4, "big")}
    assert len(messages) == 2000
    keys = [m.key().decode() for m, _ in messages]
    assert len(set(keys)) == 2000  # each row exactly once
    events = {m.key().decode(): (m, event) for m, event in messages}
    for key, (msg, event) in events.items():
        assert event["id"] == key
        assert list(event) == [*fields.FIELD_NAMES, "event_time"]  # the contract, nothing else
        assert msg.partition() == murmur2_partition(msg.key(), 3)  # same as Java clients / rpk
        when = datetime.fromisoformat(event["event_time"])
        assert when.utcoffset().total_seconds() == 0 and when >= before
        headers = dict(msg.headers())
        assert headers["source_file"] == shared_csv.name.encode()
        assert headers["run_id"] == b"run-42"
        # numbers are numbers, term in months, emp_length in years, months in ISO form
        assert isinstance(event["loan_amnt"], float) and isinstance(event["int_rate"], float)
        assert event["term"] in (36, 60)
        assert event["emp_length"] is None or 0 <= event["emp_length"] <= 10
        assert len(event["issue_d"]) == 7 and event["issue_d"][4] == "-"
    assert stats.per_partition == Counter(m.partition() for m, _ in messages)
    assert sum(stats.per_partition.values()) == 2000 and len(stats.per_partition) == 3
    outcomes = set(fields.OUTCOME_COLUMNS) & set(read_header(shared_csv))
    assert {"loan_status", "total_pymnt", "recoveries"} <= outcomes
    assert not outcomes & {name for _, event in messages for name in event}
    assert outcomes <= set(stats.dropped_columns)  # dropped, and reported
    assert stats.dropped_columns["loan_status"] == 2000
    rows = sorted(int(dict(m.headers())["row"]) for m, _ in messages)
    assert rows == list(range(1, 2001))


def test_extra_columns_are_dropped_and_reported_never_forwarded(
    live_settings: Settings, shared_csv: Path, tmp_path: Path
) -> None:
    """A file with columns a scorer might trust (risk_score, decision, risk_band) puts none of
    them on the topic; the stats count them per column."""
    import csv

    path = tmp_path / "extra.csv"
    write_loans_csv(path, shared_csv, 20)
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    rows[0] += ["risk_score", "decision", "risk_band"]
    for row in rows[1:]:
        row += ["1", "approve", "A"]
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    with temp_topic(live_settings, partitions=1) as topic:
        stats = EventProducer(live_settings.kafka_config(), topic).produce_csv(path)
        events = [event for _, event in read_events(live_settings, topic)]
    assert stats.delivered == len(events) == 20
    assert all(list(event) == [*fields.FIELD_NAMES, "event_time"] for event in events)
    assert not any("approve" in orjson.dumps(event).decode() for event in events)
    assert {stats.dropped_columns[c] for c in ("risk_score", "decision", "risk_band")} == {20}


def test_rows_without_id_are_counted_not_sent(
    live_settings: Settings, shared_csv: Path, tmp_path: Path
) -> None:
    path = tmp_path / "loans.csv"
    write_loans_csv(path, shared_csv, 20)
    lines = path.read_text().splitlines()
    lines[3] = "," + lines[3].split(",", 1)[1]  # blank the id of data row 3
    path.write_text("\n".join(lines) + "\n")
    with temp_topic(live_settings, partitions=1) as topic:
        stats = EventProducer(live_settings.kafka_config(), topic).produce_csv(path)
        assert len(read_topic(live_settings, topic)) == 19
    assert (stats.sent, stats.delivered, stats.rejected) == (19, 19, 1)
    assert stats.rejections == [{"row": 3, "reason": "no loan 'id'"}]


def test_skip_and_max(live_settings: Settings, shared_csv: Path) -> None:
    with temp_topic(live_settings, partitions=1) as topic:
        stats = EventProducer(live_settings.kafka_config(), topic).produce_csv(
            shared_csv, skip=100, max_events=50
        )
        rows = sorted(int(dict(m.headers())["row"]) for m in read_topic(live_settings, topic))
    assert stats.sent == 50 and rows == list(range(101, 151))


def test_missing_topic_fails_before_sending(live_settings: Settings, shared_csv: Path) -> None:
    with pytest.raises(ProduceError, match="topic 'no_such_topic_x' does not exist"):
        EventProducer(live_settings.kafka_config(), "no_such_topic_x").produce_csv(shared_csv)


def test_unreachable_broker_fails_fast_with_a_clear_error(shared_csv: Path) -> None:
    config = {"bootstrap.servers": "127.0.0.1:1", "socket.connection.setup.timeout.ms": 1000}
    with pytest.raises(ProduceError, match="cannot reach Kafka at 127.0.0.1:1"):
        EventProducer(config, "t").produce_csv(shared_csv)


def test_sigterm_flushes_and_reports(live_settings: Settings, shared_csv: Path) -> None:
    """A long paced run stopped by SIGTERM delivers what it sent and says so."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    with temp_topic(live_settings, partitions=1) as topic:
        proc = subprocess.Popen(
            [sys.executable, "-m", "loanstream.cli", "produce", "--allow-any-path", "--csv",
             str(shared_csv),
             "--rate", "100", "--topic", topic],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ,
        )  # fmt: skip
        time.sleep(3)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        stats = json.loads(out.strip().splitlines()[-1])
        on_topic = len(read_topic(live_settings, topic))
    assert proc.returncode == 130, err[-2000:]
    assert stats["interrupted"] is True
    assert 50 < stats["sent"] < 2000
    assert stats["delivered"] == stats["sent"] == on_topic
    assert stats["failed"] == 0
    assert "SIGTERM received" in err


def test_undelivered_events_fail_the_run_with_the_count_and_first_errors(
    live_settings: Settings, shared_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An event the broker refuses (over message.max.bytes) is counted as failed, never lost."""
    monkeypatch.setenv("LOANSTREAM_MAX_LINE_BYTES", str(4 << 20))  # a 2 MB line may be read
    import csv

    path = tmp_path / "one_huge_row.csv"
    write_loans_csv(path, shared_csv, 5)
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    rows[3][rows[0].index("emp_title")] = "x" * 2_000_000  # data row 3: a 2 MB job title
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    with temp_topic(live_settings, partitions=1) as topic:
        with pytest.raises(ProduceError, match=r"1 of 5 events were not delivered") as failed:
            EventProducer(live_settings.kafka_config(), topic).produce_csv(path)
        assert len(read_topic(live_settings, topic)) == 4
    stats = failed.value.stats
    assert (stats.sent, stats.delivered, stats.failed) == (5, 4, 1)
    assert "MSG_SIZE_TOO_LARGE" in stats.first_errors[0] or "too large" in stats.first_errors[0]
