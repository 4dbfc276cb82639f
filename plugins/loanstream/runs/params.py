"""A pipeline run's parameters: bounds defined once, values checked and typed once.

The DAGs' trigger forms take their bounds from here, and the head task of every run turns the
form's values into a ``RunParams`` (typed: a topic named ``2024`` stays the string ``"2024"``)
that the other tasks receive as XComArgs, so no operator coerces strings.

``replay_slice`` derives the slice a scheduled replay sends from its schedule slot, so over a
day the runs walk through the whole sample instead of re-sending its first rows.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from croniter import croniter

from loanstream.config import KAFKA_TOPIC_NAME, Settings
from loanstream.paths import CsvFile, opened
from loanstream.produce.rate import MAX_RATE

TOPIC_PATTERN = KAFKA_TOPIC_NAME  # the trigger forms' check; run_topic adds the rules below
RESERVED_TOPIC_STARTS = ("_", "-")  # Kafka's internal topics (_schemas, __consumer_offsets...)
MIN_PARTITIONS, MAX_PARTITIONS = 1, 64
MIN_RATE = 0.0  # 0: unthrottled
MAX_SLICE = 100_000
DAY = timedelta(days=1)


class RunParamError(ValueError):
    """A parameter outside its allowed range; the message names the parameter."""


@dataclass(frozen=True)
class RunParams:
    """What one pipeline run streams and how."""

    csv_path: str
    topic: str
    partitions: int
    rate: float
    max_events: int | None = None
    skip: int = 0
    republish: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _integer(name: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RunParamError(f"{name} must be an integer, got {type(value).__name__}")
    try:
        number = int(value) if not isinstance(value, float) or value.is_integer() else None
    except ValueError:
        number = None
    if number is None:
        raise RunParamError(f"{name} must be an integer, got {str(value)[:40]!r}")
    if number < low or (high is not None and number > high):
        bound = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise RunParamError(f"{name} must be {bound}, got {number}")
    return number


def check_topic(topic: Any) -> str:
    """A legal Kafka topic name (digits, dots and dashes included) as a string."""
    if isinstance(topic, bool) or not isinstance(topic, str | int):
        raise RunParamError(f"topic must be a string, got {type(topic).__name__}")
    name = str(topic)
    if not re.fullmatch(TOPIC_PATTERN, name) or name in (".", ".."):
        raise RunParamError(
            f"topic {name[:60]!r} is not a legal Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)"
        )
    return name


def run_topic(topic: Any, settings: Settings | None = None) -> str:
    """A topic a run may create and produce to, as a string; else :class:`RunParamError`
    naming the rule. The one definition for the DAGs' ``run_params``, ``loanstream produce``
    and ``loanstream topic create``:

    - a legal Kafka topic name (:func:`check_topic`);
    - not the scored topic (``LOANSTREAM_SCORED_TOPIC``): the sink republishes there;
    - not starting with ``_`` or ``-`` (Kafka's and the registry's internal topics, and a
      name a command line would read as an option);
    - matching ``LOANSTREAM_TOPIC_PATTERN`` as a whole (default: any legal name).
    """
    name = check_topic(topic)
    settings = settings or Settings.from_env()
    if name == settings.scored_topic:
        raise RunParamError(
            f"topic {name!r} is the scored topic (LOANSTREAM_SCORED_TOPIC), where scored "
            "events are republished: a run may not produce loan applications to it"
        )
    if name.startswith(RESERVED_TOPIC_STARTS):
        raise RunParamError(
            f"topic {name[:60]!r} starts with {name[0]!r}: names starting with '_' or '-' are "
            "reserved (internal topics, command-line options)"
        )
    try:
        allowed = re.fullmatch(settings.topic_pattern, name)
    except re.error as exc:
        raise RunParamError(f"LOANSTREAM_TOPIC_PATTERN is not a regular expression: {exc}") from None
    if not allowed:
        raise RunParamError(
            f"topic {name[:60]!r} is outside LOANSTREAM_TOPIC_PATTERN "
            f"({settings.topic_pattern[:100]!r}): the topics runs may use"
        )
    return name


def run_params(raw: Mapping[str, Any], settings: Settings | None = None) -> RunParams:
    """Check and type a run's parameters (the trigger form's values, or a DAG's fixed ones)."""
    rate = raw.get("rate", 0)
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        raise RunParamError(f"rate must be a number, got {type(rate).__name__}")
    if not MIN_RATE <= float(rate) <= MAX_RATE or math.isnan(float(rate)):
        raise RunParamError(f"rate must be from {MIN_RATE:g} to {MAX_RATE:g} events/s, got {rate}")
    max_events = raw.get("max_events")
    republish = raw.get("republish", False)
    if not isinstance(republish, bool):
        raise RunParamError(f"republish must be true or false, got {str(republish)[:20]!r}")
    csv_path = raw.get("csv_path")
    if not isinstance(csv_path, str) or not csv_path.strip():
        raise RunParamError("csv_path must be a non-empty string")
    return RunParams(
        csv_path=csv_path,
        topic=run_topic(raw.get("topic"), settings),
        partitions=_integer("partitions", raw.get("partitions"), MIN_PARTITIONS, MAX_PARTITIONS),
        rate=float(rate),
        max_events=None if max_events is None else _integer("max_events", max_events, 1),
        skip=_integer("skip", raw.get("skip", 0), 0),
        republish=republish,
    )


@dataclass(frozen=True)
class ReplaySlice:
    """The rows one scheduled replay sends: ``size`` rows after skipping ``skip``."""

    skip: int
    size: int
    index: int  # this run's slot within its day
    slots: int  # runs per day at this schedule
    slot_start: datetime


def schedule_slot(schedule: str, when: datetime) -> tuple[datetime, timedelta]:
    """The slot of a cron ``schedule`` that ``when`` falls in: its start and its length.

    Airflow 3 gives a cron-scheduled run a point as data interval (start = end = the cron
    time), and a manual run the trigger time, so the slot comes from the schedule itself.
    """
    try:
        start = croniter(schedule, when + timedelta(microseconds=1)).get_prev(datetime)
        end = croniter(schedule, start).get_next(datetime)
    except (ValueError, KeyError) as exc:
        raise RunParamError(f"schedule {schedule!r} is not a cron expression: {exc}") from None
    return start, end - start


def replay_slice(
    when: datetime, schedule: str, total_rows: int, slice_size: int | None = None
) -> ReplaySlice:
    """The slice of a ``total_rows`` sample that the run at ``when`` of ``schedule`` replays.

    A day holds ``slots`` runs of the schedule's period; slot ``i`` (counted from midnight of
    the slot's start, UTC) sends ``size`` rows from row ``i * size`` (modulo the sample's
    length; a slice stops at the sample's end). ``size`` defaults to the share that covers the
    sample in one day.
    """
    if total_rows < 1:
        raise RunParamError("the replay sample has no data rows")
    start, period = schedule_slot(schedule, when)
    period_s = max(1.0, period.total_seconds())
    slots = max(1, int(DAY.total_seconds() // period_s))
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    index = int((start - midnight).total_seconds() // period_s) % slots
    size = slice_size if slice_size is not None else math.ceil(total_rows / slots)
    size = _integer("slice_size", size, 1, MAX_SLICE)
    return ReplaySlice(
        skip=(index * size) % total_rows, size=size, index=index, slots=slots, slot_start=start
    )


def count_data_rows(source: Path | CsvFile) -> int:
    """Data rows of a CSV (its records after the header; quoted newlines counted once), read
    through one descriptor (a path is opened once here: a regular file only, no FIFO wait)."""
    with opened(source) as csv_file, csv_file.reader() as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
        return max(0, sum(1 for _ in csv.reader(text)) - 1)
