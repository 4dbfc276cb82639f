"""Encoding only (CSV -> event bodies, no Kafka), in process: untyped vs typed
(``loan_application`` v1) bodies, Python vs the native reader, µs per event.

    PYTHONPATH=plugins:. .venv/bin/python bench/bench_typed_encoding.py [CSV ...] [--passes N]

Best of ``--passes`` passes of each of the four, alternating; prints one JSON object per file
(and how many records the native typed path left to Python, from the reader's log).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import time
from pathlib import Path

from loanstream.produce.events import iter_event_batches

REPO = Path(__file__).resolve().parents[1]
DEFAULT = [REPO / "include" / "data" / "loan_applications_sample.csv"]


class _Declines(logging.Handler):
    """The count of records csv.reader read in the last native run (its summary log line)."""

    count = -1

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "(the rest natively)" in message:
            self.count = int(re.search(r"(\d+) of them by csv.reader", message).group(1))


def measure(path: Path, passes: int) -> dict:
    modes = {(typed, native): float("inf") for typed in (False, True) for native in ("off", "on")}
    events = 0
    for _ in range(passes):
        for typed, native in modes:
            started = time.perf_counter()
            events = sum(len(b) for b in iter_event_batches(path, native=native, typed=typed))
            modes[typed, native] = min(modes[typed, native], time.perf_counter() - started)
    declines = _Declines()
    logger = logging.getLogger("loanstream.produce.events")
    logger.addHandler(declines)
    logger.setLevel(logging.INFO)
    for _ in iter_event_batches(path, native="on", typed=True):
        pass
    logger.removeHandler(declines)
    us = {key: round(seconds / events * 1e6, 2) for key, seconds in modes.items()}
    return {
        "file": path.name,
        "events": events,
        "untyped_python_us": us[False, "off"],
        "untyped_native_us": us[False, "on"],
        "typed_python_us": us[True, "off"],
        "typed_native_us": us[True, "on"],
        "typed_native_declined": declines.count,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="*", type=Path, default=DEFAULT)
    parser.add_argument("--passes", type=int, default=5)
    args = parser.parse_args()
    for path in args.csv:
        print(json.dumps(measure(path, args.passes)), flush=True)


if __name__ == "__main__":
    main()
