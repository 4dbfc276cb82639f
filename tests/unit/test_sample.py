"""The sample generator and the shipped sample: format, determinism, validity."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from loanstream.cli import main
from loanstream.config import Settings
from loanstream.sample import COLUMNS, generate_sample
from loanstream.scoring import ScoringError, preprocess_event

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
