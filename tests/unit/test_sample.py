"""The sample generator and the shipped sample: format, determinism, validity."""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from loanstream.cli import main
from loanstream.config import Settings
from loanstream.lendingclub.lines import BLANK, SECTION, TOTAL
from loanstream.lendingclub.sample import COLUMNS, generate_sample, plan_export
from loanstream.produce.events import finish_event, iter_event_batches
from loanstream.scoring import ScoringError, preprocess_event
from loanstream.validation import validate_csv

pytestmark = pytest.mark.unit

SHIPPED = Settings().home / "include" / "data" / "loan_applications_sample.csv"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_header_matches_real_file(shared_csv: Path) -> None:
    with open(shared_csv, newline="", encoding="utf-8") as handle:
        real = next(csv.reader(handle))
    assert list(COLUMNS) == real and len(real) == 151
    with open(SHIPPED, newline="", encoding="utf-8") as handle:
        assert next(csv.reader(handle)) == real


def test_same_seed_is_byte_identical(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    generate_sample(a, 700, seed=7, chunk_rows=300)
    generate_sample(b, 700, seed=7, chunk_rows=300)
    generate_sample(c, 700, seed=8, chunk_rows=300)
    assert _sha(a) == _sha(b) != _sha(c)


def test_shipped_sample_is_regenerated_exactly(tmp_path: Path) -> None:
    out = tmp_path / "sample.csv"
    generate_sample(out, 5000, seed=42)
    assert _sha(out) == _sha(SHIPPED)
    assert SHIPPED.stat().st_size < 4_000_000


@pytest.fixture(scope="module")
def shipped_rows() -> list[dict[str, str]]:
    return _rows(SHIPPED)


def test_shipped_sample_is_valid_lending_club_data(shipped_rows: list[dict[str, str]]) -> None:
    rows = shipped_rows
    assert len(rows) == 5000
    assert all(len(r) == 151 and None not in r for r in rows)
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == len(ids) and all(i.isdigit() for i in ids)
    assert all(r["member_id"] == "" for r in rows)
    assert {r["term"] for r in rows} == {" 36 months", " 60 months"}
    amounts = [float(r["loan_amnt"]) for r in rows]
    assert all(1000 <= a <= 40000 and a % 25 == 0 for a in amounts)
    for r in rows:
        assert r["sub_grade"][0] == r["grade"] and r["grade"] in "ABCDEFG"
        assert float(r["fico_range_high"]) > float(r["fico_range_low"])
        assert "%" not in r["int_rate"] and "%" not in r["revol_util"]
    assert any(r["emp_title"].endswith(" ") for r in rows)
    assert any("," in r["emp_title"] for r in rows)
    assert {"10+ years", "< 1 year", ""} <= {r["emp_length"] for r in rows}
    assert any(float(r["dti"] or 0) == 999 for r in rows)
    assert any(float(r["annual_inc"]) == 0 for r in rows)
    assert any(float(r["revol_util"]) > 100 for r in rows)
    assert len({r["loan_status"] for r in rows}) >= 7


def test_rates_rise_with_grade(shipped_rows: list[dict[str, str]]) -> None:
    by_grade: dict[str, list[float]] = {}
    for r in shipped_rows:
        by_grade.setdefault(r["grade"], []).append(float(r["int_rate"]))
    medians = [sorted(v)[len(v) // 2] for _, v in sorted(by_grade.items())]
    assert medians == sorted(medians)


def test_blank_rates_mirror_real_file(shared_csv: Path, shipped_rows: list[dict[str, str]]) -> None:
    real = _rows(shared_csv)
    for column in COLUMNS:
        real_rate = sum(r[column] == "" for r in real) / len(real)
        ours = sum(r[column] == "" for r in shipped_rows) / len(shipped_rows)
        assert abs(real_rate - ours) < 0.05, column


def test_every_row_scores(shipped_rows: list[dict[str, str]]) -> None:
    failures = []
    for r in shipped_rows:
        event = {k: (v if v != "" else None) for k, v in r.items()}
        event["event_time"] = "2026-11-25T03:40:00+00:00"
        try:
            preprocess_event(event)
        except ScoringError as exc:
            failures.append(str(exc))
    assert failures == []


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "g.csv"
    assert main(["generate", "--rows", "250", "--seed", "3", "--out", str(out)]) == 0
    data = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert data["rows"] == 250 and data["path"] == str(out) and data["seconds"] >= 0
    assert len(_rows(out)) == 250


def test_zero_rows_is_header_only(tmp_path: Path) -> None:
    out = generate_sample(tmp_path / "empty.csv", 0)
    assert out.read_text().strip() == ",".join(COLUMNS)


def test_kaggle_plan_at_real_size_has_the_real_loans_and_33_summary_rows() -> None:
    plan = plan_export("kaggle", 2_260_701)
    assert (plan.rows, plan.loans, plan.summary_rows) == (2_260_701, 2_260_668, 33)
    lines = [p.line for p in plan.parts]
    assert lines.count(TOTAL) == 32 and lines.count(SECTION) == 1 and BLANK not in lines
    loans = [p for p in plan.parts if not p.line]
    assert loans[0].loans == 128_412  # 2018Q4 first, newest to oldest
    assert [p.last for p in loans] == sorted((p.last for p in loans), reverse=True)
    # every section of loans is closed by its two totals; the section title opens the last part
    for before, after in zip(plan.parts, plan.parts[1:]):
        if before.line is None:
            assert after.line in (TOTAL, SECTION) and after.policy_code in (0, 1)
    assert plan.parts[-3].fails_policy and plan.parts[-4].line == SECTION
    assert plan_export("kaggle", 2_260_701) == plan  # deterministic


def test_plans_share_rows_in_the_real_proportions() -> None:
    for rows in (33, 34, 1000, 99_999):
        plan = plan_export("kaggle", rows)
        assert plan.rows == rows and plan.summary_rows == 33
    with pytest.raises(ValueError, match="rows must be >= 33"):
        plan_export("kaggle", 32)
    download = plan_export("download", 1000)
    assert (download.rows, download.loans, download.summary_rows) == (1000, 997, 3)
    assert download.banner and [p.line for p in download.parts[-4:]] == [BLANK, TOTAL, TOTAL, BLANK]
    with pytest.raises(ValueError, match="shape must be one of"):
        plan_export("csv", 10)


@pytest.mark.parametrize(("shape", "ending"), [("kaggle", "lf"), ("download", "crlf")])
def test_export_shapes_validate_and_stream_with_their_lines_skipped(
    shape: str, ending: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / f"{shape}.csv"
    argv = ["generate", "--shape", shape, "--rows", "1500", "--line-ending", ending]
    assert main([*argv, "--out", str(out)]) == 0
    made = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    plan = plan_export(shape, 1500)
    assert (made["rows"], made["loans"], made["summary_rows"]) == (
        1500,
        plan.loans,
        plan.summary_rows,
    )
    data = out.read_bytes()
    assert data.count(b"\r\n") == (data.count(b"\n") if ending == "crlf" else 0)

    result = validate_csv(out, report_dir=tmp_path)
    assert result.success, result.summary_lines()
    assert result.rows == plan.loans
    skipped = result.skipped_lines
    assert skipped["total"]["count"] == (32 if shape == "kaggle" else 2)
    assert skipped["section"]["count"] == 1
    if shape == "download":
        assert skipped["banner"] == {"count": 1, "lines": [1]}
        assert skipped["blank"]["count"] == 2
    keys, events = [], 0
    statuses = set()
    for batch in iter_event_batches(out):
        keys += batch.keys
        assert batch.rejections == []
        for body in batch.bodies:
            event = orjson.loads(finish_event(body, "2026-01-01T00:00:00+00:00"))
            statuses.add(event["loan_status"])
            if shape == "download":
                assert event["int_rate"].endswith("%")
            events += 1
    assert events == len(set(keys)) == plan.loans
    assert any(s.startswith("Does not meet the credit policy") for s in statuses)


def test_kaggle_sections_are_sorted_by_issue_month_descending(tmp_path: Path) -> None:
    out = generate_sample(tmp_path / "k.csv", 700, shape="kaggle", chunk_rows=37)
    months: dict[bool, list[datetime]] = {True: [], False: []}  # by "does not meet the policy"
    for row in _rows(out):
        if row["issue_d"]:
            fails = row["loan_status"].startswith("Does not meet")
            months[fails].append(datetime.strptime(row["issue_d"], "%b-%Y"))
    meet, fail = months[False], months[True]
    assert meet == sorted(meet, reverse=True) and fail == sorted(fail, reverse=True)
    assert meet[0] == datetime(2018, 12, 1) and meet[-1] >= datetime(2007, 6, 1)
    assert len(fail) == 1 and fail[0] == datetime(2011, 12, 1)  # the last part, 2007-2011
    same = generate_sample(tmp_path / "k2.csv", 700, shape="kaggle", chunk_rows=37)
    assert _sha(out) == _sha(same)
