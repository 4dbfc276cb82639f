"""validate_csv: real data, the result API, reports, row numbering and lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loanstream.config import Settings
from loanstream.validation import CsvReadError, ValidationResult, validate_csv
from loanstream.validation.expectations import (
    EMP_LENGTHS,
    HOME_OWNERSHIPS,
    LOAN_STATUSES,
    PURPOSES,
    REQUIRED_COLUMNS,
    SUITE,
)

pytestmark = pytest.mark.unit

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bad_inputs"
GOOD = CORPUS / "good.csv"


def test_real_lending_club_sample_passes_with_real_outliers_as_warnings(
    shared_csv: Path, tmp_path: Path
) -> None:
    result = validate_csv(shared_csv, report_dir=tmp_path, run_id="real")

    assert result.success, result.summary_lines()
    assert result.rows == 2000
    assert result.failed == []
    warned = {w["check"] for w in result.warnings}
    assert {"dti_plausible", "revol_util_plausible", "annual_inc_positive"} <= warned
    dti = next(w for w in result.warnings if w["check"] == "dti_plausible")
    assert {"row": 1986, "value": "999.0"} in dti["examples"]


def test_real_sample_passes_in_small_chunks_with_same_counts(
    shared_csv: Path, tmp_path: Path
) -> None:
    whole = validate_csv(shared_csv, report_dir=tmp_path)
    chunked = validate_csv(shared_csv, chunk_rows=333, report_dir=tmp_path)

    assert chunked.success and chunked.chunks == 7
    assert chunked.warnings == whole.warnings


def test_real_sample_categories_are_all_known(shared_csv: Path) -> None:
    import pandas as pd

    frame = pd.read_csv(shared_csv, dtype=str, usecols=list(REQUIRED_COLUMNS))
    assert set(frame["loan_status"].dropna()) <= set(LOAN_STATUSES)
    assert set(frame["purpose"].dropna()) <= set(PURPOSES)
    assert set(frame["home_ownership"].dropna()) <= set(HOME_OWNERSHIPS)
    assert set(frame["emp_length"].dropna()) <= set(EMP_LENGTHS)


def test_shipped_sample_passes(tmp_path: Path) -> None:
    sample = Settings.from_env().sample_csv
    if not sample.exists():
        pytest.skip(f"{sample} not generated yet")
    result = validate_csv(sample, report_dir=tmp_path)
    assert result.success, result.summary_lines()
    assert result.rows > 0


def test_suite_check_names_are_unique_and_tagged() -> None:
    names = [check.name for check in SUITE]
    assert len(names) == len(set(names))
    assert {check.kind for check in SUITE} == {"critical", "warning"}


def test_result_api_is_small_json_and_readable(tmp_path: Path) -> None:
    result = validate_csv(CORPUS / "ragged_row.csv", report_dir=tmp_path, run_id="r1")
    payload = result.to_dict()

    text = json.dumps(payload)
    assert len(text) < 8_000
    assert json.loads(text)["success"] is False
    assert set(payload) >= {"success", "rows", "failed", "warnings", "report", "seconds"}
    for item in payload["failed"]:
        assert set(item) >= {"check", "expectation", "column", "kind", "unexpected_count"}
        assert item["kind"] == "critical" and len(item["examples"]) <= 5

    lines = result.summary_lines()
    assert lines[0].startswith("validation FAILED for ") and "ragged_row.csv" in lines[0]
    kinds = [line.split(" ", 1)[0] for line in lines[1:-2]]
    assert kinds == sorted(kinds, key=lambda k: k != "FAILED")  # failures before warnings
    assert lines[-2] == f"report: {result.report}"
    assert lines[-1].startswith("next: nothing may be produced")


def test_report_is_written_under_run_id_with_every_check(tmp_path: Path) -> None:
    result = validate_csv(
        CORPUS / "negative_amount.csv",
        report_dir=tmp_path,
        run_id="manual__2025-01-01T00:00:00+00:00",
    )

    report = Path(result.report or "")
    assert report == tmp_path / "manual__2025-01-01T00_00_00_00_00" / "validation.html"
    page = report.read_text(encoding="utf-8")
    assert "Validation FAILED" in page and "negative_amount.csv" in page
    assert "row 3: &#x27;-5000.0&#x27;" in page
    for check in SUITE:
        assert check.name in page


def test_default_report_dir_comes_from_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOANSTREAM_REPORTS_DIR", str(tmp_path / "reports"))
    result = validate_csv(GOOD)
    assert Path(result.report or "").parent.parent == tmp_path / "reports"


def test_read_errors_are_typed_value_errors(tmp_path: Path) -> None:
    with pytest.raises(CsvReadError) as info:
        validate_csv(tmp_path / "nope.csv", report_dir=tmp_path)
    assert isinstance(info.value, ValueError)
    assert info.value.path.endswith("nope.csv")
    assert info.value.reason == "file does not exist"
    with pytest.raises(ValueError, match="chunk_rows"):
        validate_csv(GOOD, chunk_rows=0, report_dir=tmp_path)


def test_utf8_bom_and_blank_lines_keep_row_numbers_on_the_files_lines(tmp_path: Path) -> None:
    header, *rows = GOOD.read_text(encoding="utf-8").splitlines()
    rows[3] = rows[3].replace("Jul-2015", "July 2015")
    path = tmp_path / "bom.csv"
    path.write_bytes(
        b"\xef\xbb\xbf" + "\n".join([header, rows[0], "", rows[1], rows[2], rows[3]]).encode()
    )

    result = validate_csv(path, report_dir=tmp_path)
    assert result.rows == 4
    assert [f["check"] for f in result.failed] == ["issue_d_format"]
    # the blank line (file line 3) is data row 2, skipped and reported: rows follow the lines
    assert result.failed[0]["examples"] == [{"row": 5, "value": "July 2015"}]
    assert result.skipped_lines == {"blank": {"count": 1, "lines": [3]}}


def test_bad_byte_offset_is_exact_past_the_first_block(tmp_path: Path) -> None:
    text = GOOD.read_bytes()
    header, first = text.split(b"\n")[:2]
    body = header + b"\n" + b"\n".join([first] * 20_000) + b"\n"  # > 1 MiB scan block
    offset = len(body) + 8
    path = tmp_path / "late_bad_byte.csv"
    path.write_bytes(body + first[:8] + b"\xff" + first[9:] + b"\n")

    with pytest.raises(CsvReadError) as info:
        validate_csv(path, report_dir=tmp_path)
    assert f"byte 0xff at byte offset {offset} (line 20002" in info.value.reason


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    bad_rows=st.sets(st.integers(min_value=1, max_value=24), min_size=1, max_size=8),
    dup=st.tuples(st.integers(1, 24), st.integers(1, 24)).filter(lambda p: p[0] < p[1]),
    chunk_rows=st.integers(min_value=1, max_value=30),
)
def test_reported_rows_do_not_depend_on_chunking(
    tmp_path: Path, bad_rows: set[int], dup: tuple[int, int], chunk_rows: int
) -> None:
    header, *good = GOOD.read_text(encoding="utf-8").splitlines()
    lines = []
    for row in range(1, 25):
        line = good[row % len(good)].split(",", 1)[1]
        if row in bad_rows:
            line = line.replace(",", ",-", 1)  # loan_amnt is the second field after member_id
        row_id = dup[0] if row == dup[1] else row
        lines.append(f"{row_id},{line}")
    path = tmp_path / f"rows_{chunk_rows}.csv"
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")

    result = validate_csv(path, chunk_rows=chunk_rows, report_dir=tmp_path)

    by_check = {f["check"]: f for f in result.failed}
    assert [e["row"] for e in by_check["loan_amnt_range"]["examples"]] == sorted(bad_rows)
    same_chunk = (dup[0] - 1) // chunk_rows == (dup[1] - 1) // chunk_rows
    if same_chunk:
        assert [e["row"] for e in by_check["id_unique"]["examples"]] == list(dup)
        assert "id_unique_across_chunks" not in by_check
    else:
        assert by_check["id_unique_across_chunks"]["examples"] == [
            {"row": dup[1], "value": str(dup[0]), "first_row": dup[0]}
        ]
        assert "id_unique" not in by_check


def test_importing_validation_imports_neither_gx_nor_pandas() -> None:
    code = (
        "import sys, loanstream.validation, loanstream.commands.validate; "
        "print([m for m in ('great_expectations', 'pandas', 'numpy') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_result_dataclass_fields_match_the_public_contract() -> None:
    fields = list(ValidationResult.__dataclass_fields__)
    assert fields[:6] == ["success", "rows", "failed", "warnings", "report", "seconds"]


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.lists(st.text(alphabet='ab ,"\n\r', max_size=6), min_size=1, max_size=5),
        min_size=1,
        max_size=8,
    ),
    ending=st.sampled_from(["\n", "\r\n", "\r"]),
    quoting=st.sampled_from([0, 1]),  # csv.QUOTE_MINIMAL, csv.QUOTE_ALL (LendingClub's)
)
def test_fast_field_count_agrees_with_csv_module(
    rows: list[list[str]], ending: str, quoting: int
) -> None:
    import csv
    import io

    from loanstream.validation.scan import _records

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=ending, quoting=quoting).writerows(rows)
    text = buffer.getvalue()

    expected = list(csv.reader(io.StringIO(text, newline="")))  # blank line: []
    lines = iter(io.StringIO(text, newline="").readlines())
    assert [(width, record()) for width, record in _records(lines)] == [
        (len(r), r) for r in expected
    ]
