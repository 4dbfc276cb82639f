"""Benchmark scoring without Kafka or Postgres: the Python reference path, the native scorer,
and how fast hostile input is refused.

    scripts/env.sh .venv/bin/python bench/bench_scoring.py [--repeat N] [--events untyped|typed|both]

- ``preprocess_event`` + ``apply_rules`` per event (µs) on both samples, as the sink's Python
  path runs them (events decoded from the producer's JSON);
- the native ``BatchScorer`` on the same messages (µs per event, batches of 2,000);
- each for the untyped events the producer writes today (every value text) and for the typed
  ``loan_application`` events of :mod:`loanstream.contract` (JSON numbers, ISO months; the
  same rows typed with ``Layout``), per ``--events``;
- a 1 MB value in each field scoring reads: refused with a ScoringError within
  ``TARGET_HUGE_S`` for all of them together (this was a wall-clock assertion in
  tests/unit/test_scoring.py; timings belong here).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import orjson
from confluent_kafka import Message

from loanstream.config import shared_sample_csv
from loanstream.contract.convert import Layout
from loanstream.produce.events import finish_event, iter_event_batches
from loanstream.scoring import ScoringError, apply_rules, load_rules, preprocess_event
from loanstream.scoring.native import load_batch_scorer

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "include" / "data" / "loan_applications_sample.csv"
STAMP = "2026-11-25T03:40:00.123456+00:00"
TARGET_HUGE_S = 0.5
HUGE_FIELDS = ("loan_amnt", "int_rate", "term", "emp_length", "earliest_cr_line", "issue_d",
               "id", "event_time", "purpose")  # fmt: skip


def values(path: Path) -> list[bytes]:
    return [finish_event(b, STAMP) for batch in iter_event_batches(path) for b in batch.bodies]


def typed_values(path: Path) -> list[bytes]:
    """The sample's rows as typed ``loan_application`` events (as tests/unit/test_contract.py
    types them: rows of the header's width with a numeric id)."""
    import csv

    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        layout = Layout.of(header)
        return [
            orjson.dumps({**layout.typed(row, 2026), "event_time": STAMP})
            for row in reader
            if len(row) == len(header) and row[0].strip().isdigit()
        ]


def python_us(raw: list[bytes], repeat: int) -> float:
    rules = load_rules()
    events = [orjson.loads(v) for v in raw]
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for event in events:
            try:
                apply_rules(preprocess_event(event), rules)
            except ScoringError:
                pass
        best = min(best, time.perf_counter() - started)
    return best / len(events) * 1e6


def native_us(raw: list[bytes], repeat: int) -> tuple[float | None, int | None]:
    """(µs per event, events declined to Python), or (None, None) when not built."""
    scorer, _ = load_batch_scorer(load_rules(), "auto")
    if scorer is None:
        return None, None
    messages = [Message(topic="t", partition=0, offset=i, value=v) for i, v in enumerate(raw)]
    batches = [messages[i : i + 2000] for i in range(0, len(messages), 2000)]
    declined = sum(len(scorer.score(batch)[1]) for batch in batches)
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for batch in batches:
            scorer.score(batch)
        best = min(best, time.perf_counter() - started)
    return best / len(messages) * 1e6, declined


def huge_values_s() -> float:
    event = orjson.loads(values(shared_sample_csv())[0])
    huge = "9" * 1_000_000
    started = time.perf_counter()
    for name in HUGE_FIELDS:
        try:
            preprocess_event({**event, name: huge})
        except ScoringError:
            continue
        raise SystemExit(f"a 1 MB {name} was accepted")
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--events",
        choices=("untyped", "typed", "both"),
        default="both",
        help="untyped events (every value text, as produced today), typed loan_application "
        "events (loanstream.contract), or both (default)",
    )
    args = parser.parse_args(argv)
    kinds = ("untyped", "typed") if args.events == "both" else (args.events,)
    results = {}
    for (name, path), kind in (
        (sample, kind)
        for sample in (("real", shared_sample_csv()), ("shipped", SHIPPED))
        for kind in kinds
    ):
        raw = values(path) if kind == "untyped" else typed_values(path)
        native, declined = native_us(raw, args.repeat)
        results[name, kind] = {
            "events": len(raw),
            "python_us_per_event": round(python_us(raw, args.repeat), 2),
            "native_us_per_event": native if native is None else round(native, 3),
            "native_declined": declined,
        }
        print(json.dumps({"sample": name, "kind": kind, **results[name, kind]}), flush=True)
    huge = huge_values_s()
    verdict = "met" if huge < TARGET_HUGE_S else "MISSED"
    print(json.dumps({"huge_values_refused_s": round(huge, 4), "fields": len(HUGE_FIELDS)}))
    print(f"target: a 1 MB value in each of {len(HUGE_FIELDS)} fields refused in "
          f"< {TARGET_HUGE_S} s together: {huge:.4f} s, {verdict}")  # fmt: skip
    return 0 if huge < TARGET_HUGE_S else 1


if __name__ == "__main__":
    sys.exit(main())
