"""The rules on the real LendingClub sample: better than LendingClub's sub_grade, monotonic."""

from __future__ import annotations

import json

import numpy as np
import pytest

from loanstream.cli import main
from loanstream.evaluation import ks_statistic, outcome_label, roc_auc

pytestmark = pytest.mark.unit


def test_auc_with_ties_matches_pairwise_definition() -> None:
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 5, 200)
    labels = rng.integers(0, 2, 200)
    bad, good = scores[labels == 1], scores[labels == 0]
    pairwise = ((bad[:, None] > good[None, :]) + 0.5 * (bad[:, None] == good[None, :])).mean()
    assert roc_auc(scores, labels) == pytest.approx(pairwise)
    assert roc_auc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0
    assert roc_auc([1, 1, 1, 1], [0, 1, 0, 1]) == 0.5
    assert np.isnan(roc_auc([1, 2], [1, 1]))


def test_ks() -> None:
    assert ks_statistic([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0
    assert ks_statistic([1, 1, 1, 1], [0, 1, 0, 1]) == 0.0
    assert ks_statistic([1, 2, 3, 4], [0, 1, 0, 1]) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("status", "label"),
    [
        ("Charged Off", 1),
        ("Fully Paid", 0),
        ("Does not meet the credit policy. Status:Charged Off", 1),
        ("Does not meet the credit policy. Status:Fully Paid", 0),
        ("Current", None),
        ("Late (31-120 days)", None),
        ("", None),
        (None, None),
    ],
)
def test_outcome_label(status: str | None, label: int | None) -> None:
    assert outcome_label(status) == label


@pytest.fixture(scope="module")
def result(shared_csv) -> dict:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["evaluate", "--allow-any-path", "--csv", str(shared_csv)])
    assert code == 0
    return json.loads(out.getvalue().strip().splitlines()[-1])


def test_evaluate_output_keys(result: dict) -> None:
    for key in (
        "rows",
        "auc",
        "ks",
        "bad_rate_by_band",
        "lc_sub_grade_auc",
        "skipped",
        "rules_version",
    ):
        assert key in result
    assert result["rows"] > 1200 and result["skipped"] == 0


def test_rules_beat_lendingclub_sub_grade(result: dict) -> None:
    assert result["lc_sub_grade_auc"] == pytest.approx(0.70, abs=0.01)
    assert result["auc"] >= result["lc_sub_grade_auc"]
    assert result["auc"] >= 0.71
    assert result["ks"] > 0.3


def test_bad_rate_rises_band_by_band(result: dict) -> None:
    rates = [band["bad_rate"] for band in result["bad_rate_by_band"].values()]
    assert all(band["n"] >= 30 for band in result["bad_rate_by_band"].values())
    assert rates == sorted(rates) and len(set(rates)) == len(rates)


def test_bad_rows_are_skipped_not_fatal(tmp_path, capsys) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "id,loan_amnt,term,int_rate,loan_status,issue_d,sub_grade\n"
        "1,1000, 36 months,25.0,Charged Off,Sep-2016,G1\n"
        "2,1000, 36 months,6.0,Fully Paid,Sep-2016,A1\n"
        "3,abc, 36 months,6.0,Fully Paid,Sep-2016,A1\n"
        "4,1000, 36 months,6.0,Current,Sep-2016,A1\n"
    )
    assert main(["evaluate", "--allow-any-path", "--csv", str(path)]) == 0
    data = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (data["rows"], data["skipped"], data["auc"]) == (2, 1, 1.0)


def test_rules_table_flag(capsys) -> None:
    assert main(["evaluate", "--rules-table"]) == 0
    assert "| code | condition | points | description |" in capsys.readouterr().out


def test_bad_rules_file_exit_code(tmp_path, capsys) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("version: x\n")
    assert main(["evaluate", "--csv", "x.csv", "--rules", str(path)]) == 2
    assert "error" in json.loads(capsys.readouterr().out.strip().splitlines()[-1])
