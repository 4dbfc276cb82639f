"""Bounded input: a CSV line longer than ``LOANSTREAM_MAX_LINE_BYTES`` fails with its row, in
bounded memory, in validation, in the Python event reader and in the native reader (the same
error as Python's: the native reader leaves such a line to Python, handing it no more than
the limit and one byte)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from loanstream.produce.events import EventSourceError, iter_event_batches
from loanstream.validation import CsvReadError, scan_file

pytestmark = [pytest.mark.security, pytest.mark.unit]

HEADER = "id,loan_amnt,desc\n"


def events(path: Path, native: str) -> Any:
    try:
        return [(b.keys, b.rows, b.rejections) for b in iter_event_batches(path, native=native)]
    except EventSourceError as exc:
        return ("error", str(exc), exc.row)


def both(path: Path) -> Any:
    """What both readers give (asserted equal)."""
    native = events(path, "on")
    assert native == events(path, "off")
    return native


@pytest.fixture
def limit(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("LOANSTREAM_MAX_LINE_BYTES", "100")
    return 100


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_an_over_long_line_fails_with_its_row_in_both_readers(
    ending: str, limit: int, tmp_path: Path
) -> None:
    path = tmp_path / "long.csv"
    rows = ["1,1000,short", "2,2000,short", "3,3000," + "x" * 200, "4,4000,short"]
    path.write_text(HEADER.replace("\n", ending) + ending.join(rows) + ending)
    error = both(path)
    assert error[0] == "error" and error[2] == 3
    assert f"{path}, row 3: line 4 is longer than {limit} bytes (LOANSTREAM_MAX_LINE_BYTES)" in (
        error[1]
    )
    with pytest.raises(CsvReadError, match="data row 3: line 4 is longer than 100 bytes"):
        scan_file(path)


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_a_line_of_exactly_the_limit_is_read_and_one_more_byte_is_not(
    ending: str, limit: int, tmp_path: Path
) -> None:
    head = "1,1000,"
    fits = head + "y" * (limit - len(head) - len(ending))
    path = tmp_path / "edge.csv"
    path.write_text(HEADER + fits + ending + "2,2000,z" + ending)
    assert both(path)[0][0] == ["1", "2"]
    assert scan_file(path).rows == 2
    path.write_text(HEADER + fits + "y" + ending + "2,2000,z" + ending)
    assert both(path)[1:] == (both(path)[1], 1) and "line 2 is longer" in both(path)[1]
    with pytest.raises(CsvReadError, match="data row 1: line 2"):
        scan_file(path)


def test_the_last_line_without_a_break_and_a_long_header(limit: int, tmp_path: Path) -> None:
    path = tmp_path / "tail.csv"
    path.write_text(HEADER + "1,1000,a\n2,2000," + "q" * 300)
    assert both(path)[1:] == (f"{path}, row 2: {_msg(3, limit)}", 2)
    path.write_text("id," + ",".join(f"c{i}" for i in range(60)) + "\n1\n")
    assert both(path)[2] == 0  # the header: row 0
    with pytest.raises(CsvReadError, match="before the header: line 1 is longer"):
        scan_file(path)


def test_a_quoted_record_of_short_lines_may_be_longer_than_the_limit(
    limit: int, tmp_path: Path
) -> None:
    """The bound is per physical line: a multi-line quoted field of short lines is read."""
    path = tmp_path / "quoted.csv"
    field = "\n".join(["p" * 50] * 5)
    path.write_text(HEADER + f'1,1000,"{field}"\n2,2000,b\n')
    assert both(path)[0][:2] == (["1", "2"], [1, 2])
    assert scan_file(path).rows == 2


def _msg(line: int, limit: int) -> str:
    return (
        f"line {line} is longer than {limit} bytes (LOANSTREAM_MAX_LINE_BYTES); it was not read "
        "further: split the field or raise the limit"
    )


def _huge(tmp_path: Path, megabytes: int = 64) -> Path:
    path = tmp_path / "huge.csv"
    with path.open("wb") as out:
        out.write(HEADER.encode() + b"1,1000,a\n2,2000,")
        block = b"z" * (1 << 20)
        for _ in range(megabytes):
            out.write(block)
        out.write(b"\n3,3000,c\n")
    return path


def test_python_readers_hold_no_more_than_the_limit_of_a_huge_line(tmp_path: Path) -> None:
    """A 64 MiB line, the default 1 MiB limit: refused with row 2, peak Python memory
    under 24 MiB (a few copies of the 1 MiB limit, not 64 MiB)."""
    path = _huge(tmp_path)
    for run in (lambda: events(path, "off"), lambda: _scan_error(path)):
        tracemalloc.start()
        try:
            outcome = run()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert "line 3 is longer than 1048576 bytes" in str(outcome)
        assert peak < 24 << 20, f"peak {peak / 2**20:.1f} MiB"  # ~16 MiB: a few copies of 1 MiB


def _scan_error(path: Path) -> str:
    with pytest.raises(CsvReadError, match="data row 2") as info:
        scan_file(path)
    return str(info.value)


NATIVE_RSS = textwrap.dedent(
    """
    import json, resource, sys
    from loanstream.produce.events import EventSourceError, iter_event_batches
    try:
        sum(len(b.keys) for b in iter_event_batches(sys.argv[1], native="on"))
        error = None
    except EventSourceError as exc:
        error = [str(exc), exc.row]
    print(json.dumps({"rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      "error": error}))
    """
)


def test_the_native_reader_holds_no_more_than_the_limit_of_a_huge_line(tmp_path: Path) -> None:
    """Peak RSS reading a 64 MiB line stays within a few MiB of reading a tiny file."""

    def run(path: Path) -> dict[str, Any]:
        out = subprocess.run(
            [sys.executable, "-c", NATIVE_RSS, str(path)],
            capture_output=True, text=True, check=True, timeout=120,
        )  # fmt: skip
        return json.loads(out.stdout.strip().splitlines()[-1])

    small = tmp_path / "small.csv"
    small.write_text(HEADER + "1,1000,a\n")
    baseline = run(small)
    huge = run(_huge(tmp_path))
    assert baseline["error"] is None
    assert huge["error"][1] == 2 and "line 3 is longer than 1048576 bytes" in huge["error"][0]
    grew = (huge["rss_kib"] - baseline["rss_kib"]) / 1024
    assert grew < 16, f"native reader peak RSS grew {grew:.1f} MiB for a 64 MiB line"
