"""Table-driven bad-input corpus for ``loanstream validate``: exit code, verdict and message.

Small files live in ``tests/data/bad_inputs/`` (regenerate with ``make_corpus.py`` there);
the 1,000,000-row file is generated in tmp_path from the real LendingClub sample.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from loanstream.cli import main
from loanstream.validation.expectations import REQUIRED_COLUMNS

pytestmark = pytest.mark.unit

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bad_inputs"


@dataclass(frozen=True)
class Case:
    file: str
    exit_code: int
    messages: tuple[str, ...] = ()
    failed: frozenset[str] = frozenset()
    exact: bool = True  # failed checks are exactly ``failed`` (else: at least)
    warnings: frozenset[str] = frozenset()
    chunk_rows: int | None = None
    rows: int | None = None
    id: str = field(default="")


CASES = [
    Case("good.csv", 0, rows=5),
    Case("good.csv", 0, rows=5, chunk_rows=1, id="good-one-row-chunks"),
    Case("empty.csv", 2, ("empty.csv", "file is empty (0 bytes)")),
    Case(
        "header_only.csv",
        1,
        ("header_only.csv", "has a header but no data rows"),
        frozenset({"has_rows"}),
        rows=0,
    ),
    Case(
        "missing_column.csv",
        1,
        ("missing_column.csv", "missing required column(s): purpose"),
        frozenset({"required_columns"}),
    ),
    Case(
        "semicolon.csv",
        2,
        ("semicolon.csv", "only 1 column detected", "';' (semicolon)-separated (21 fields)"),
    ),
    Case(
        "latin1.csv",
        2,
        ("latin1.csv", "not valid UTF-8", "byte 0xe9 at byte offset 592", "line 4", "UTF-8"),
    ),
    Case("crlf.csv", 0, rows=5),
    Case("cr_only.csv", 0, rows=5),
    Case(
        "duplicate_ids.csv",
        1,
        ("duplicate_ids.csv", "id_unique", "column 'id'", "row 2: '1002'", "row 4: '1002'"),
        frozenset({"id_unique"}),
    ),
    Case(
        "duplicate_ids.csv",
        1,
        (
            "id_unique_across_chunks",
            "column 'id'",
            "1 of 5 rows unexpected",
            "row 4: '1002' (first seen at row 2)",
        ),
        frozenset({"id_unique_across_chunks"}),
        chunk_rows=2,
        id="duplicate-ids-across-chunks",
    ),
    Case(
        "negative_amount.csv",
        1,
        ("negative_amount.csv", "loan_amnt_range", "column 'loan_amnt'", "row 3: '-5000.0'"),
        frozenset({"loan_amnt_range"}),
    ),
    Case(
        "text_in_numeric.csv",
        1,
        (
            "annual_inc_format",
            "column 'annual_inc'",
            "row 2: 'fifty thousand'",
            "int_rate_format",
            "row 5: 'n/a'",
        ),
        frozenset({"annual_inc_format", "int_rate_format"}),
    ),
    Case("embedded_newline.csv", 0, rows=5),
    Case(
        "embedded_newline_then_bad.csv",
        1,
        ("term_format", "column 'term'", "row 4: '48 months'"),
        frozenset({"term_format"}),
        rows=5,
    ),
    Case("percent_and_old_dates.csv", 0),
    Case(
        "real_outliers.csv",
        0,
        (
            "dti_plausible",
            "row 1: '999.0'",
            "annual_inc_positive",
            "row 2: '0.0'",
            "row 3: '128.9'",
        ),
        warnings=frozenset({"dti_plausible", "annual_inc_positive", "revol_util_plausible"}),
    ),
    Case(
        "unknown_categories.csv",
        1,
        ("loan_status_known", "row 2: 'Paid-ish'", "home_ownership_known", "row 5: 'CASTLE'"),
        frozenset({"loan_status_known", "home_ownership_known"}),
    ),
    Case(
        "ragged_row.csv",
        1,
        ("ragged_row.csv", "row_field_count", "row 2: '22 fields, header has 21'"),
        frozenset({"row_field_count"}),
        exact=False,
    ),
    Case(
        "unterminated_quote.csv",
        2,
        ("unterminated_quote.csv", "malformed CSV", "EOF inside string starting at row 3"),
    ),
    Case("does_not_exist.csv", 2, ("does_not_exist.csv", "file does not exist")),
]


@pytest.fixture(autouse=True)
def _corpus_is_a_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """The corpus is read as a deployment's data directory (``LOANSTREAM_DATA_DIRS``)."""
    monkeypatch.setenv("LOANSTREAM_DATA_DIRS", str(CORPUS))


def run_cli(
    path: Path, report_dir: Path, capsys: pytest.CaptureFixture, chunk_rows: int | None = None
) -> tuple[int, dict, str]:
    argv = ["validate", "--csv", str(path), "--report-dir", str(report_dir)]
    if chunk_rows:
        argv += ["--chunk-rows", str(chunk_rows)]
    code = main(argv)
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1]), out[-1]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id or c.file.removesuffix(".csv"))
def test_corpus(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    code, payload, last_line = run_cli(CORPUS / case.file, tmp_path, capsys, case.chunk_rows)
    log_text = caplog.text + last_line

    assert code == case.exit_code, log_text
    assert payload["success"] is (code == 0)
    for message in case.messages:
        assert message in log_text, f"{message!r} not in log:\n{log_text}"
    if code == 2:
        assert payload["error"] and payload["report"] is None
        assert "validation ERROR: cannot read" in caplog.text
        return
    failed = {item["check"] for item in payload["failed"]}
    assert failed == case.failed if case.exact else failed >= case.failed
    if case.exact:
        assert {item["check"] for item in payload["warnings"]} == case.warnings
    if case.rows is not None:
        assert payload["rows"] == case.rows
    assert Path(payload["report"]).is_file()
    assert Path(payload["report"]).parent.parent == tmp_path
    assert f"report: {payload['report']}" in caplog.text
    assert caplog.records[-1].getMessage().startswith("next: ")


def _replicate(source: Path, target: Path, rows: int, columns: tuple[str, ...]) -> Path:
    """``rows`` rows cycling over ``source``'s rows, with fresh unique ids 1..rows."""
    with source.open(newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        templates = []
        for record in reader:
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n").writerow([record[c] for c in columns[1:]])
            templates.append(buffer.getvalue())
    with target.open("w", encoding="utf-8", newline="") as out:
        out.write(",".join(columns) + "\n")
        count = len(templates)
        for start in range(0, rows, 50_000):
            stop = min(start + 50_000, rows)
            out.write("".join(f"{i + 1},{templates[i % count]}" for i in range(start, stop)))
    return target


_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from loanstream.validation import validate_csv
    result = validate_csv(sys.argv[1], report_dir=__import__("pathlib").Path(sys.argv[2]))
    out = result.to_dict()
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))
    """
)


def test_one_million_rows_pass_with_bounded_memory(shared_csv: Path, tmp_path: Path) -> None:
    # how fast: bench/bench_validation.py (target: 1,000,000 rows in under 90 s), not here
    big = _replicate(shared_csv, tmp_path / "million.csv", 1_000_000, REQUIRED_COLUMNS)
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(big), str(tmp_path / "reports")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    result = json.loads(child.stdout.strip().splitlines()[-1])
    assert result["success"], result
    assert result["rows"] == 1_000_000
    assert result["chunks"] == 5
    assert result["failed"] == []
    # real outliers repeat 500 times over; they stay warnings
    assert {w["check"] for w in result["warnings"]} >= {"dti_plausible", "revol_util_plausible"}
    assert result["max_rss_mb"] < 1500, result["max_rss_mb"]
