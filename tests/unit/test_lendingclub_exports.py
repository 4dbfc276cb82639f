"""Real LendingClub export shapes: validation and the producer skip and report the same lines.

Both shapes are built at test time from the real 2,000-row sample (``tests/lendingclub_exports``):
LendingClub's own download (banner, quoted header and fields, ``%`` rates, section line,
footers, trailing blank lines) and the Kaggle export (full-width summary and section rows),
each with LF and CRLF line endings.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from pathlib import Path

import pytest

from loanstream.cli import main
from loanstream.lendingclub.lines import (
    BANNER,
    BANNER_TEXT,
    BLANK,
    MAX_LINES_LISTED,
    SECTION,
    SECTION_TEXT,
    TOTAL,
    SkippedLines,
    body_kind,
    describe_skipped,
    preamble_kind,
    total_text,
)
from loanstream.produce.events import iter_event_batches, read_header
from loanstream.validation import validate_csv
from tests.lendingclub_exports import write_download, write_kaggle

pytestmark = pytest.mark.unit

SHAPES = {"download": write_download, "kaggle": write_kaggle}
NEWLINES = {"lf": "\n", "crlf": "\r\n"}


def _drain(path: Path) -> tuple[list[str], list[int], SkippedLines, list]:
    keys, rows, skipped, rejections = [], [], SkippedLines(), []
    for batch in iter_event_batches(path, chunk_rows=700):
        keys += batch.keys
        rows += batch.rows
        rejections += batch.rejections
        for kind, line in batch.skipped:
            skipped.add(kind, line)
    return keys, rows, skipped, rejections


@pytest.mark.parametrize("newline", NEWLINES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_export_validates_and_streams_with_the_same_lines_skipped(
    shape: str,
    newline: str,
    shared_csv: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    export = SHAPES[shape](shared_csv, tmp_path / f"{shape}.csv", NEWLINES[newline])
    expected = export.skipped_lines()
    assert set(expected) == ({BANNER, SECTION, TOTAL, BLANK} if shape == "download" else
                             {SECTION, TOTAL, BLANK})  # fmt: skip

    caplog.set_level(logging.INFO)
    code = main(["validate", "--csv", str(export.path), "--report-dir", str(tmp_path),
                 "--allow-any-path"])
    payload = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0, caplog.text
    assert payload["rows"] == export.loans == 2000
    assert payload["failed"] == []
    assert payload["skipped_lines"] == expected
    assert describe_skipped(expected) in caplog.text

    keys, rows, skipped, rejections = _drain(export.path)
    assert rejections == []
    assert keys == export.ids
    assert skipped.to_dict() == expected
    assert len(read_header(export.path)) == 151
    # skipped lines after the header are rows too: a loan's row is its line less the header's
    assert rows == [line - export.header_line for line in export.loan_lines]


def test_validation_and_producer_name_the_same_row(shared_csv: Path, tmp_path: Path) -> None:
    export = write_kaggle(shared_csv, tmp_path / "kaggle.csv")
    lines = export.path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    # the last loan comes after two sections' totals and the section title: 5 rows more
    target = len(lines) - 4  # 0-based index of the last loan line
    fields = next(iter(__import__("csv").reader([lines[target]])))
    fields[header.index("loan_amnt")] = "-1.0"
    lines[target] = ",".join(f'"{f}"' if "," in f else f for f in fields)
    export.path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = validate_csv(export.path, report_dir=tmp_path, chunk_rows=300)
    (failed,) = result.failed
    assert failed["check"] == "loan_amnt_range"
    (example,) = failed["examples"]
    assert example == {"row": target, "value": "-1.0"}  # data row = file line - 1
    keys, rows, _, _ = _drain(export.path)
    assert rows[keys.index(fields[header.index("id")])] == target


def test_unknown_shapes_without_an_id_are_still_errors(shared_csv: Path, tmp_path: Path) -> None:
    export = write_kaggle(shared_csv, tmp_path / "odd.csv", rows=10)
    text = export.path.read_text(encoding="utf-8")
    width = len(export.header)
    odd = [
        "Total amount funded in policy code one",  # one field, not the known text
        total_text(1, 5) + ",x" + "," * (width - 2),  # full width, a field not blank: a "loan"
        "," * (width - 1),  # full width, all blank: a row without id
        BANNER_TEXT,  # a banner after the header
    ]
    export.path.write_text(text + "\n".join(odd) + "\n", encoding="utf-8")

    result = validate_csv(export.path, report_dir=tmp_path)
    assert not result.success
    assert {f["check"] for f in result.failed} >= {"row_field_count", "id_present"}
    assert result.skipped_lines == export.skipped_lines()  # the odd lines are not skipped
    keys, rows, skipped, rejections = _drain(export.path)
    assert skipped.to_dict() == export.skipped_lines()
    first = export.lines  # physical lines written; the odd ones follow, data row = line - 1
    assert [r.row for r in rejections] == [first, first + 2, first + 3]
    assert (keys[-1], rows[-1]) == (total_text(1, 5), first + 1)  # has an id: scored, then
    # dead-lettered by the sink


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ([BANNER_TEXT], BANNER),
        (["Notes offered by Prospectus"], BANNER),
        ([" " + BANNER_TEXT + " "], BANNER),
        ([], BLANK),
        ([""], BLANK),
        (["   "], BLANK),
        (["id", "loan_amnt"], None),
        (["Notes offered by Prospectus (see the web site)"], None),
    ],
)
def test_preamble_shapes(fields: list[str], kind: str | None) -> None:
    assert preamble_kind(fields) == kind


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ([SECTION_TEXT], SECTION),
        (["Loans that meet the credit policy"], SECTION),
        ([total_text(1, 460296150)], TOTAL),
        (["Total amount funded in policy code 2: 0"], TOTAL),
        ([], BLANK),
        ([" "], BLANK),
        ([total_text(1, 5), "", ""], TOTAL),
        ([SECTION_TEXT, " ", ""], SECTION),
        ([total_text(1, 5), "", "x"], None),
        (["", "", ""], None),
        (["123", "", ""], None),
        (["Total amount funded in policy code 1:"], None),
        (["Total amount funded in policy code 1: 5 dollars"], None),
        ([BANNER_TEXT], None),
        ([total_text(1, 5), ""], None),  # neither one field nor full width
    ],
)
def test_body_shapes(fields: list[str], kind: str | None) -> None:
    assert body_kind(fields, 3, 0) == kind


def test_skipped_lines_keep_exact_counts_and_the_first_lines() -> None:
    skipped = SkippedLines()
    for line in range(1, MAX_LINES_LISTED + 6):
        skipped.add(BLANK, line)
    skipped.add(BANNER, 1)
    data = skipped.to_dict()
    assert list(data) == [BANNER, BLANK]  # a fixed order
    assert data[BLANK]["count"] == MAX_LINES_LISTED + 5
    assert data[BLANK]["lines"] == list(range(1, MAX_LINES_LISTED + 1))
    assert describe_skipped(data).startswith(f"skipped {MAX_LINES_LISTED + 6} non-loan lines")
    assert describe_skipped(data).endswith(f"{MAX_LINES_LISTED}, ...)")


def test_report_embeds_the_result_as_parseable_json(shared_csv: Path, tmp_path: Path) -> None:
    export = write_download(shared_csv, tmp_path / "x<b>&'.csv", rows=20)
    text = export.path.read_text(encoding="utf-8")
    export.path.write_text(text.replace('"Fully Paid"', '"</script><b>&amp;"', 1), "utf-8")
    result = validate_csv(export.path, report_dir=tmp_path)
    assert result.failed[0]["examples"][0]["value"] == "</script><b>&amp;"
    page = Path(result.report or "").read_text(encoding="utf-8")
    (embedded,) = re.findall(r'<script type="application/json" id="result">(.*?)</script>', page)
    assert "<" not in embedded and "&quot;" not in embedded
    expected = {k: v for k, v in result.to_dict().items() if k not in ("report", "seconds")}
    assert {k: v for k, v in json.loads(embedded).items() if k in expected} == expected
    assert "policy-code total" in page


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_tricky_layouts_number_rows_alike_in_validation_and_producer(
    newline: str, shared_csv: Path, tmp_path: Path
) -> None:
    export = write_kaggle(shared_csv, tmp_path / "base.csv", rows=6)
    with export.path.open(newline="", encoding="utf-8") as stream:
        names, *records = csv.reader(stream)
    loans = [r for r in records if r and r[0].isdigit()]
    width = len(names)

    def line(fields: list[str]) -> str:
        out = io.StringIO()
        csv.writer(out, lineterminator="\r\n").writerow(fields)  # quotes fields with CR/LF
        return out.getvalue()[:-2]

    header = line(names)
    multi = list(loans[0])
    multi[names.index("emp_title")] = "line one\nline two"  # a field that spans two lines
    bad_id = loans[0][names.index("id")]  # repeats the first loan's id, in another chunk
    bad = list(loans[1])
    bad[names.index("id")], bad[names.index("loan_amnt")] = bad_id, "-5.0"
    lines = [
        BANNER_TEXT,
        "",
        header,
        line(multi),
        total_text(1, 10) + "," * (width - 1),
        '""',  # a quoted empty line
        "   ",  # whitespace only
        f'"{SECTION_TEXT}"',
        line(loans[2]),
        line(bad),
        "",
    ]
    path = tmp_path / "tricky.csv"
    path.write_bytes(b"\xef\xbb\xbf" + newline.join(lines).encode() + newline.encode())

    result = validate_csv(path, report_dir=tmp_path, chunk_rows=2)
    failed = {f["check"]: f["examples"] for f in result.failed}
    assert failed == {
        "loan_amnt_range": [{"row": 7, "value": "-5.0"}],
        "id_unique_across_chunks": [{"row": 7, "value": bad_id, "first_row": 1}],
    }
    assert result.rows == 3
    expected = {
        BANNER: {"count": 1, "lines": [1]},
        SECTION: {"count": 1, "lines": [9]},
        TOTAL: {"count": 1, "lines": [6]},
        BLANK: {"count": 4, "lines": [2, 7, 8, 12]},
    }
    assert result.skipped_lines == expected
    keys, rows, skipped, rejections = _drain(path)
    assert rejections == [] and skipped.to_dict() == expected
    assert rows == [1, 6, 7] and keys[-1] == bad_id
