"""`loanstream evaluate`: out-of-sample figures first, the same features as the live pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import orjson
import pytest

from loanstream.cli import main
from loanstream.evaluation.offline import (
    evaluate_csv,
    ks_statistic,
    outcome_label,
    roc_auc,
    score_events,
)
from loanstream.scoring import ScoringError, load_rules, preprocess_event

SHIPPED = Path(__file__).resolve().parents[2] / "include" / "data" / "loan_applications_sample.csv"

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
    assert list(result)[:4] == ["rows", "bad", "out_of_sample", "in_sample"]  # out of sample first
    for figures in (result["out_of_sample"], result["in_sample"]):
        assert list(figures)[0] == "method"
        for key in ("auc", "ks", "bad_rate_by_band", "lc_sub_grade_auc"):
            assert key in figures
    for key in ("skipped", "unlabelled", "rules_version", "features_as_of"):
        assert key in result
    assert result["rows"] > 1200 and result["skipped"] == 0
    assert result["features_as_of"] == {"issue_d": result["rows"]}


def test_cli_text_leads_with_out_of_sample(shared_csv, capsys) -> None:
    assert main(["evaluate", "--csv", str(shared_csv), "--folds", "3", "--allow-any-path"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    text = "\n".join(lines[:-1])
    assert text.index("OUT OF SAMPLE (3-fold") < text.index("in sample (")
    assert json.loads(lines[-1])["out_of_sample"]["folds"] == 3


def test_rules_beat_lendingclub_sub_grade_in_sample(result: dict) -> None:
    in_sample = result["in_sample"]
    assert in_sample["lc_sub_grade_auc"] == pytest.approx(0.70, abs=0.01)
    assert in_sample["auc"] >= in_sample["lc_sub_grade_auc"]
    assert in_sample["auc"] >= 0.71
    assert in_sample["ks"] > 0.3


def test_out_of_sample_figures(result: dict) -> None:
    """Refitted on other folds, the rule structure stays about on par with LendingClub's own
    sub_grade (docs/SCORING.md); the bands still order the risk."""
    oos = result["out_of_sample"]
    assert len(oos["auc_by_fold"]) == oos["folds"] == 5
    assert oos["auc"] == pytest.approx(sum(oos["auc_by_fold"]) / 5, abs=1e-4)
    assert oos["auc"] >= oos["lc_sub_grade_auc"] - 0.02 and oos["auc"] > 0.68
    assert oos["ks"] > 0.3
    rates = [band["bad_rate"] for band in oos["bad_rate_by_band"].values()]
    assert rates == sorted(rates)
    assert sum(band["n"] for band in oos["bad_rate_by_band"].values()) == result["rows"]
    assert oos["auc"] < result["in_sample"]["auc"]  # in-sample is optimistic


def test_cross_validation_is_reproducible(shared_csv) -> None:
    assert evaluate_csv(shared_csv, seed=3) == evaluate_csv(shared_csv, seed=3)
    assert (
        evaluate_csv(shared_csv, seed=3)["out_of_sample"]
        != evaluate_csv(shared_csv)["out_of_sample"]
    )


def test_bad_rate_rises_band_by_band_in_sample(result: dict) -> None:
    by_band = result["in_sample"]["bad_rate_by_band"]
    rates = [band["bad_rate"] for band in by_band.values()]
    assert all(band["n"] >= 30 for band in by_band.values())
    assert rates == sorted(rates) and len(set(rates)) == len(rates)


@pytest.mark.parametrize("sample", ["real", "shipped"])
def test_live_pipeline_and_evaluate_compute_the_same_features(sample: str, shared_csv) -> None:
    """The sink (Python and native paths) and `evaluate` give each row the same features,
    whenever the event was produced: time-dependent ones are as of issue_d in both."""
    from confluent_kafka import Message

    from loanstream.produce.events import finish_event, iter_event_batches
    from loanstream.scoring.native import load_batch_scorer
    from loanstream.sink import csv_lines, score_message
    from loanstream.sink.rows import FEATURE_COLUMNS
    from tests.unit.test_native_scorer import cells

    path = shared_csv if sample == "real" else SHIPPED
    rules = load_rules()
    evaluated = [
        features
        for _, features, _ in score_events(path, rules, "2016-01-01T00:00:00+00:00")
        if features is not None
    ]
    replayed = "2031-06-30T23:59:59.999999+00:00"  # produced years later
    messages = [
        Message(topic="t", partition=0, offset=i, value=finish_event(body, replayed))
        for i, body in enumerate(b for batch in iter_event_batches(path) for b in batch.bodies)
    ]
    assert len(messages) == len(evaluated) > 1000
    scorer, _ = load_batch_scorer(rules, "on")
    native_lines, declined, _ = scorer.score(messages)
    assert declined == []
    native_rows = iter(native_lines.decode().splitlines(keepends=True))
    scored = 0
    for msg, features in zip(messages, evaluated, strict=True):
        result = score_message(msg, rules, payload=False)
        if isinstance(features, ScoringError):
            assert result == str(features)
            continue
        row, _ = result
        assert row[: len(FEATURE_COLUMNS)] == tuple(getattr(features, c) for c in FEATURE_COLUMNS)
        assert cells(next(native_rows)) == cells(csv_lines([row]))  # values as Postgres reads
        assert features.features_as_of_basis == "issue_d"
        assert preprocess_event(orjson.loads(msg.value())).features_as_of == features.features_as_of
        scored += 1
    assert scored > 1000


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
    assert (data["rows"], data["skipped"], data["in_sample"]["auc"]) == (2, 1, 1.0)
    assert data["out_of_sample"] == {"method": "too few labelled rows of each outcome for 5 folds"}


def test_rules_table_flag(capsys) -> None:
    assert main(["evaluate", "--rules-table"]) == 0
    assert "| code | condition | points | description |" in capsys.readouterr().out


def test_bad_rules_file_exit_code(tmp_path, capsys) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("version: x\n")
    assert main(["evaluate", "--csv", "x.csv", "--rules", str(path)]) == 2
    assert "error" in json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_a_file_that_cannot_be_opened_is_an_error_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --allow-any-path the directory rule is off, the open's own refusal is not."""
    missing = tmp_path / "missing.csv"
    assert main(["evaluate", "--allow-any-path", "--csv", str(missing)]) == 2
    error = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["error"]
    assert str(missing) in error and "does not exist" in error
