"""A 200 MB line: validation and the producer each fail naming its row, in bounded memory.

Both run as users run them (``loanstream validate`` and ``loanstream produce``, the native
reader where it is built), each in a process of its own whose peak resident memory (VmHWM) is
read when it exits. ``LOANSTREAM_MAX_LINE_BYTES`` is the default, 1 MiB.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from loanstream.config import Settings
from tests.helpers import PEAK_RSS_WRAPPER, read_topic, temp_topic

pytestmark = [pytest.mark.security, pytest.mark.integration]

LINE_BYTES = 200 * 1000 * 1000
RSS_LIMIT_MB = 300


@pytest.fixture(scope="module")
def huge_csv(tmp_path_factory: pytest.TempPathFactory, shared_csv: Path) -> Path:
    """The real sample's header and first row, then a row whose `emp_title` holds 200 MB (data
    row 2), then another row; written in 1 MB pieces, never held whole."""
    with shared_csv.open(newline="", encoding="utf-8") as src:
        header, first, last = src.readline(), src.readline(), src.readline()
    at = header.rstrip("\r\n").split(",").index("emp_title")
    path = tmp_path_factory.mktemp("huge") / "huge_line.csv"
    cells = first.rstrip("\r\n").split(",")  # the first rows hold no quoted commas before it
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(header + first)
        out.write(",".join(cells[:at]) + ",")
        piece = "x" * 1_000_000
        for _ in range(LINE_BYTES // len(piece)):
            out.write(piece)
        out.write("," + ",".join(cells[at + 1 :]) + "\n" + last)
    return path


def _loanstream(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    proc = subprocess.run(
        [sys.executable, "-c", PEAK_RSS_WRAPPER, *args],
        capture_output=True, text=True, timeout=600, env=os.environ.copy(),
    )  # fmt: skip
    peak = re.search(r"PEAK_RSS_KB (\d+)", proc.stderr)
    assert peak, proc.stderr[-2000:]
    return proc, int(peak.group(1)) / 1024


def test_validation_fails_naming_the_row_under_300_mb(huge_csv: Path) -> None:
    proc, peak_mb = _loanstream("validate", "--allow-any-path", "--csv", str(huge_csv))
    assert proc.returncode == 2, proc.stderr[-2000:]  # unreadable, not "failed expectations"
    assert "row 2" in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-2000:]
    assert "LOANSTREAM_MAX_LINE_BYTES" in proc.stdout + proc.stderr
    assert peak_mb < RSS_LIMIT_MB, f"peak RSS {peak_mb:.0f} MB"


def test_the_producer_fails_naming_the_row_under_300_mb(
    live_settings: Settings, huge_csv: Path
) -> None:
    with temp_topic(live_settings, partitions=1) as topic:
        proc, peak_mb = _loanstream(
            "produce", "--allow-any-path", "--csv", str(huge_csv), "--topic", topic
        )
        on_topic = read_topic(live_settings, topic)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode != 0 and "row 2" in result["error"], result
    assert "LOANSTREAM_MAX_LINE_BYTES" in result["error"]
    assert len(on_topic) <= 1  # at most the row before it; the huge row never
    assert peak_mb < RSS_LIMIT_MB, f"peak RSS {peak_mb:.0f} MB"
