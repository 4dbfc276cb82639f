"""A run's parameters, checked and typed once; a replay's slice from its data interval."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from loanstream.config import Settings
from loanstream.runs.params import (
    RunParamError,
    count_data_rows,
    replay_slice,
    run_params,
    run_topic,
)

pytestmark = pytest.mark.unit

FORM = {"csv_path": "x.csv", "topic": "loan_applications", "partitions": 3, "rate": 1000,
        "max_events": None, "republish": False}  # fmt: skip


@pytest.mark.parametrize("topic", ["2024", "1.5", "a.b-c_d", "a_", "0" * 249])
def test_topic_names_of_digits_dots_and_dashes_stay_strings(topic: str) -> None:
    params = run_params({**FORM, "topic": topic})
    assert params.topic == topic and isinstance(params.topic, str)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("topic", "bad topic!", "not a legal Kafka topic"),
        ("topic", "x" * 250, "not a legal Kafka topic"),
        ("topic", "..", "not a legal Kafka topic"),
        ("topic", None, "topic must be a string"),
        ("partitions", 0, "partitions must be from 1 to 64"),
        ("partitions", 65, "partitions must be from 1 to 64"),
        ("partitions", "3; DROP", "partitions must be an integer"),
        ("partitions", 2.5, "partitions must be an integer"),
        ("rate", -1, "rate must be from 0 to 50000"),
        ("rate", 50_001, "rate must be from 0 to 50000"),
        ("rate", "fast", "rate must be a number"),
        ("rate", float("nan"), "rate must be from"),
        ("max_events", 0, "max_events must be at least 1"),
        ("republish", "yes", "republish must be true or false"),
        ("csv_path", "", "csv_path must be a non-empty string"),
    ],
)
def test_out_of_range_values_are_refused_naming_the_parameter(
    field: str, value: object, message: str
) -> None:
    with pytest.raises(RunParamError, match=message):
        run_params({**FORM, field: value})


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        ("scored-loans", "'scored-loans' is the scored topic .LOANSTREAM_SCORED_TOPIC."),
        ("_schemas", "starts with '_': names starting with '_' or '-' are reserved"),
        ("__consumer_offsets", "starts with '_'"),
        ("-", "starts with '-'"),
        ("--bootstrap", "starts with '-'"),
    ],
)
def test_topics_a_run_may_not_use_are_refused_naming_the_rule(topic: str, message: str) -> None:
    with pytest.raises(RunParamError, match=message):
        run_params({**FORM, "topic": topic}, Settings())


def test_the_scored_topic_is_the_configured_one() -> None:
    settings = Settings(scored_topic="risk.out")
    with pytest.raises(RunParamError, match="'risk.out' is the scored topic"):
        run_topic("risk.out", settings)
    assert run_topic("scored-loans", settings) == "scored-loans"


def test_topic_pattern_setting_bounds_the_topics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOANSTREAM_TOPIC_PATTERN", r"loan[a-z_]*|20\d\d")
    settings = Settings.from_env()
    assert run_topic("loan_applications", settings) == "loan_applications"
    assert run_topic(2024, settings) == "2024"  # a topic named 2024 still works
    with pytest.raises(RunParamError, match="'payments' is outside LOANSTREAM_TOPIC_PATTERN"):
        run_params({**FORM, "topic": "payments"}, settings)
    with pytest.raises(RunParamError, match="outside LOANSTREAM_TOPIC_PATTERN"):
        run_topic("loan_applications.x", settings)  # the whole name must match
    monkeypatch.setenv("LOANSTREAM_TOPIC_PATTERN", "loan[")
    with pytest.raises(RunParamError, match="LOANSTREAM_TOPIC_PATTERN is not a regular"):
        run_topic("loan", Settings.from_env())


def test_default_pattern_allows_any_other_legal_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOANSTREAM_TOPIC_PATTERN", raising=False)
    for topic in ("2024", "loan_applications", "a.b-c_d", "x" * 249):
        assert run_topic(topic, Settings.from_env()) == topic
    with pytest.raises(RunParamError, match="not a legal Kafka topic"):
        run_topic("bad topic!", Settings.from_env())


def test_values_arrive_typed() -> None:
    params = run_params({**FORM, "rate": 0, "max_events": 10, "republish": True})
    assert params.partitions == 3 and params.rate == 0.0 and params.max_events == 10
    assert params.skip == 0 and params.republish is True


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 29, hour, minute, tzinfo=UTC)


def test_a_day_of_hourly_replays_covers_the_sample_once_in_order() -> None:
    slices = [replay_slice(_at(hour), "@hourly", total_rows=5000) for hour in range(24)]
    assert [s.index for s in slices] == list(range(24)) and {s.slots for s in slices} == {24}
    covered: list[int] = []
    for chosen in slices:
        covered.extend(range(chosen.skip, min(chosen.skip + chosen.size, 5000)))
    assert sorted(covered) == covered and set(covered) == set(range(5000))
    assert slices[0].skip == 0 and slices[1].skip == slices[0].size == 209


def test_a_manual_run_gets_the_slot_it_falls_in() -> None:
    """Airflow 3 gives runs a point as data interval: the slot comes from the schedule."""
    assert replay_slice(_at(5, 23), "@hourly", total_rows=5000) == replay_slice(
        _at(5), "@hourly", total_rows=5000
    )
    assert replay_slice(_at(5, 23), "@hourly", total_rows=5000).slot_start == _at(5)


def test_a_fixed_slice_size_wraps_around_and_other_schedules_work() -> None:
    assert replay_slice(_at(23), "@hourly", 5000, slice_size=500).skip == (23 * 500) % 5000
    every_15 = replay_slice(_at(18, 20), "*/15 * * * *", total_rows=960)
    assert (every_15.slots, every_15.index, every_15.size, every_15.skip) == (96, 73, 10, 730)
    daily = replay_slice(_at(18), "@daily", total_rows=100)
    assert (daily.skip, daily.size, daily.slots) == (0, 100, 1)
    with pytest.raises(RunParamError, match="no data rows"):
        replay_slice(_at(1), "@hourly", total_rows=0)
    with pytest.raises(RunParamError, match="not a cron expression"):
        replay_slice(_at(1), "every hour", total_rows=10)


def test_count_data_rows_counts_records_not_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text('id,desc\n1,"two\nlines"\n2,x\n', encoding="utf-8")
    assert count_data_rows(path) == 2


@pytest.mark.parametrize("command", [["topic", "create"], ["produce"]])
@pytest.mark.parametrize("topic", ["scored-loans", "_schemas", "-x"])
def test_the_cli_applies_the_same_topic_rule(
    command: list[str], topic: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from loanstream.cli import main

    # an unreachable broker: a refused topic must fail before any client is built
    code = main([*command, f"--topic={topic}", "--bootstrap", "127.0.0.1:1"])
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert code == 2
    assert "scored topic" in out or "reserved" in out
