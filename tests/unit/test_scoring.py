"""Unit tests for loanstream.scoring: parsing, rules validation, scores, bands, decisions."""

from __future__ import annotations

from dataclasses import replace as dataclass_replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from loanstream.scoring import (
    FEATURE_FIELDS,
    Features,
    RulesError,
    ScoringError,
    apply_rules,
    load_rules,
    parse_rules,
    preprocess_event,
    rules_markdown_table,
    score_event,
)

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "include" / "rules" / "risk_rules.yaml"
SCHEMA = REPO / "include" / "sql" / "migrations" / "0001_initial.sql"

BASE: dict[str, Any] = {
    "id": "90134693",
    "member_id": None,
    "loan_amnt": "6000.0",
    "term": " 36 months",
    "int_rate": "9.49",
    "emp_title": "MEDICAL ASSISTANT  ",
    "emp_length": "10+ years",
    "home_ownership": "RENT",
    "annual_inc": "60000.0",
    "purpose": "credit_card",
    "dti": "15.99",
    "delinq_2yrs": "1.0",
    "earliest_cr_line": "Aug-1998",
    "fico_range_low": "675.0",
    "fico_range_high": "679.0",
    "inq_last_6mths": "0.0",
    "pub_rec": "3.0",
    "revol_util": "18.1",
    "event_time": "2026-11-25T03:40:00.123456+00:00",
}


def event(**changes: Any) -> dict[str, Any]:
    data = dict(BASE)
    data.update(changes)
    return data


def test_base_event_parses() -> None:
    f = preprocess_event(BASE)
    assert f == Features(
        loan_id="90134693",
        loan_amnt=6000.0,
        term_months=36,
        int_rate=9.49,
        annual_inc=60000.0,
        dti=15.99,
        revol_util=18.1,
        emp_length_years=10,
        credit_history_months=(2026 - 1998) * 12 + (11 - 8),
        fico=677.0,
        inq_last_6mths=0,
        delinq_2yrs=1,
        pub_rec=3,
        home_ownership="RENT",
        purpose="credit_card",
        event_time=datetime(2026, 11, 25, 3, 40, 0, 123456, tzinfo=UTC),
        features_as_of=date(2026, 11, 1),
        features_as_of_basis="event_time",
    )


def test_features_match_risk_scored_columns() -> None:
    schema = SCHEMA.read_text()
    for name in FEATURE_FIELDS:
        assert f"\n    {name} " in schema, name
    row = preprocess_event(BASE).as_row()
    assert list(row) == list(FEATURE_FIELDS)
    as_dict = preprocess_event(BASE).to_dict()
    assert as_dict["event_time"] == "2026-11-25T03:40:00.123456+00:00"
    assert as_dict["features_as_of"] == "2026-11-01"


@pytest.mark.parametrize(
    ("raw", "months"),
    [
        (" 36 months", 36),
        (" 60 months", 60),
        ("36 months", 36),
        ("60", 60),
        (36, 36),
        (60.0, 60),
        ("36 MONTHS", 36),
        ("  60 month ", 60),
    ],
)
def test_term(raw: Any, months: int) -> None:
    assert preprocess_event(event(term=raw)).term_months == months


@pytest.mark.parametrize("raw", [None, "", "  ", "12 months", "abc", "36.5", 48, True, [36], "6O"])
def test_term_invalid(raw: Any) -> None:
    with pytest.raises(ScoringError) as info:
        preprocess_event(event(term=raw))
    assert info.value.field == "term"
    assert "'term'" in str(info.value)


@pytest.mark.parametrize(
    ("raw", "rate"),
    [
        ("11.53", 11.53),
        ("11.53%", 11.53),
        (" 11.53 % ", 11.53),
        (7, 7.0),
        (5.32, 5.32),
        ("0", 0.0),
        (None, None),
        ("", None),
    ],
)
def test_int_rate(raw: Any, rate: float | None) -> None:
    assert preprocess_event(event(int_rate=raw)).int_rate == rate


@pytest.mark.parametrize(
    ("raw", "util"), [("18.1", 18.1), ("101.5%", 101.5), ("0", 0.0), (None, None)]
)
def test_revol_util(raw: Any, util: float | None) -> None:
    assert preprocess_event(event(revol_util=raw)).revol_util == util


@pytest.mark.parametrize(
    ("raw", "years"),
    [
        ("10+ years", 10),
        ("< 1 year", 0),
        ("1 year", 1),
        ("3 years", 3),
        ("n/a", None),
        (None, None),
        ("", None),
        (" 7 years ", 7),
        (4, 4),
        ("<1 year", 0),
    ],
)
def test_emp_length(raw: Any, years: int | None) -> None:
    assert preprocess_event(event(emp_length=raw)).emp_length_years == years


@pytest.mark.parametrize(
    ("raw", "months"),
    [
        ("Aug-1998", 339),
        ("Nov-2026", 0),
        ("aug-98", 339),
        ("1998-08", 339),
        ("1998-08-15", 339),
        ("Jan-05", 262),
        (None, None),
        ("", None),
    ],
)
def test_credit_history(raw: Any, months: int | None) -> None:
    assert preprocess_event(event(earliest_cr_line=raw)).credit_history_months == months


@pytest.mark.parametrize(
    ("low", "high", "fico"),
    [("675.0", "679.0", 677.0), ("700", None, 700.0), (None, "704", 704.0), (None, None, None)],
)
def test_fico(low: Any, high: Any, fico: float | None) -> None:
    assert preprocess_event(event(fico_range_low=low, fico_range_high=high)).fico == fico


def test_blanks_and_whitespace() -> None:
    f = preprocess_event(
        event(annual_inc="  ", dti=None, home_ownership=" mortgage ", purpose=" Car ", id=" 42 ")
    )
    assert f.annual_inc is None and f.dti is None
    assert f.home_ownership == "MORTGAGE" and f.purpose == "car" and f.loan_id == "42"


def test_integer_loan_id_and_numeric_values() -> None:
    f = preprocess_event(event(id=123, loan_amnt=5000, annual_inc=0, inq_last_6mths=2))
    assert (f.loan_id, f.loan_amnt, f.annual_inc, f.inq_last_6mths) == ("123", 5000.0, 0.0, 2)


def test_event_time_is_utc() -> None:
    f = preprocess_event(event(event_time="2026-11-25T05:40:00+02:00"))
    assert f.event_time == datetime(2026, 11, 25, 3, 40, tzinfo=UTC)
    assert preprocess_event(event(event_time="2026-11-25T03:40:00Z")).event_time.tzinfo is UTC


@pytest.mark.parametrize(
    ("field", "raw"),
    [
        ("id", None),
        ("id", ""),
        ("id", 1.5),
        ("id", ["1"]),
        ("id", True),
        ("id", "a\x00b"),
        ("loan_amnt", None),
        ("loan_amnt", "0"),
        ("loan_amnt", "-100"),
        ("loan_amnt", "abc"),
        ("loan_amnt", "nan"),
        ("loan_amnt", float("inf")),
        ("loan_amnt", {"a": 1}),
        ("int_rate", "abc"),
        ("int_rate", "11.53%%"),
        ("int_rate", "-1"),
        ("int_rate", "1e9"),
        ("int_rate", "1,5"),
        ("int_rate", False),
        ("annual_inc", "-1"),
        ("annual_inc", "60,000"),
        ("annual_inc", 10**400),
        ("dti", "-0.5"),
        ("dti", "x"),
        ("revol_util", "-3%"),
        ("emp_length", "ten years"),
        ("emp_length", "3.5"),
        ("emp_length", -1),
        ("earliest_cr_line", "Foo-1998"),
        ("earliest_cr_line", "1998-13"),
        ("earliest_cr_line", "Dec-2026"),
        ("earliest_cr_line", "Aug-1850"),
        ("earliest_cr_line", 1998),
        ("fico_range_low", "900"),
        ("fico_range_high", "abc"),
        ("inq_last_6mths", "1.5"),
        ("inq_last_6mths", "-1"),
        ("delinq_2yrs", "many"),
        ("pub_rec", [1]),
        ("home_ownership", 1),
        ("purpose", "x" * 100),
        ("event_time", None),
        ("event_time", "yesterday"),
        ("event_time", "2026-11-25T03:40:00"),
        ("event_time", 1764042000),
    ],
)
def test_bad_values_raise_scoring_error_naming_field(field: str, raw: Any) -> None:
    with pytest.raises(ScoringError) as info:
        preprocess_event(event(**{field: raw}))
    assert info.value.field == field
    assert f"field {field!r}" in str(info.value)


def test_message_format() -> None:
    with pytest.raises(ScoringError) as info:
        preprocess_event(event(int_rate="abc"))
    assert str(info.value) == "field 'int_rate': cannot parse 'abc' as a percentage"
    assert info.value.value == "abc" and info.value.reason.startswith("cannot parse")


def test_fico_low_above_high() -> None:
    with pytest.raises(ScoringError, match="fico_range_low"):
        preprocess_event(event(fico_range_low="700", fico_range_high="690"))


def test_not_a_mapping() -> None:
    with pytest.raises(ScoringError):
        preprocess_event(["not", "a", "dict"])  # type: ignore[arg-type]


def test_huge_string_fails_with_a_short_message() -> None:
    # how fast it fails is measured in bench/bench_scoring.py, not asserted here
    huge = "9" * 1_000_000
    for name in (
        "loan_amnt",
        "int_rate",
        "term",
        "emp_length",
        "earliest_cr_line",
        "id",
        "event_time",
        "purpose",
    ):
        with pytest.raises(ScoringError) as info:
            preprocess_event(event(**{name: huge}))
        assert len(str(info.value)) < 300


# --- rules -------------------------------------------------------------------------------

VALID = """
version: "t-1"
bands: [{band: A, min_score: 0}, {band: B, min_score: 20}, {band: C, min_score: 50}]
decisions: {review_at: 20, decline_at: 50}
rules:
  - {code: TERM_60, description: long term, when: {field: term_months, op: "==", value: 60}, points: 30}
  - {code: HIGH_DTI, description: dti, when: {field: dti, op: ">=", value: 25}, points: 40}
  - {code: RENTER, description: renter, when: {field: home_ownership, op: in, value: [RENT]}, points: 5}
  - {code: NO_FICO, description: no fico, when: {field: fico, op: missing, value: true}, points: 50}
  - {code: MID_RATE, description: rate, when: {field: int_rate, op: between, value: [10, 11]}, points: 1}
  - {code: RICH, description: rich, when: {field: income_to_loan, op: ">", value: 100}, points: -10}
"""


def test_parse_valid_rules() -> None:
    rules = parse_rules(VALID)
    assert rules.version == "t-1" and len(rules.rules) == 6
    assert [r.code for r in rules.rules][:2] == ["TERM_60", "HIGH_DTI"]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('version: "t-1"', "version: ''", "version"),
        ("field: dti", "field: dtii", "rule HIGH_DTI (#2): unknown field 'dtii'"),
        ('op: ">="', 'op: "=>"', "rule HIGH_DTI (#2): unknown operator '=>'"),
        ("points: 40", "points: 400", "rule HIGH_DTI (#2): 'points'"),
        ("points: 40", "points: 'x'", "rule HIGH_DTI (#2): 'points'"),
        ("code: HIGH_DTI", "code: TERM_60", "rule TERM_60 (#2): duplicate code"),
        ("code: HIGH_DTI", "code: high dti", "rule #2: 'code'"),
        ("value: [10, 11]", "value: [11, 10]", "rule MID_RATE (#5): 'between'"),
        ("value: [10, 11]", "value: 10", "rule MID_RATE (#5): 'between'"),
        ("value: true}", "value: yes-please}", "rule NO_FICO (#4): 'missing'"),
        ("value: 25}", "value: high}", "rule HIGH_DTI (#2): '>=' takes a number"),
        ("value: [RENT]", "value: []", "rule RENTER (#3): 'in'"),
        ("description: dti,", "description: '',", "rule HIGH_DTI (#2): 'description'"),
        ("review_at: 20", "review_at: 60", "review_at <= decline_at"),
        ("{band: B, min_score: 20}", "{band: B, min_score: 0}", "min_score"),
        ("rules:", "rulez:", "'rules'"),
    ],
)
def test_rules_validation_errors(old: str, new: str, message: str) -> None:
    text = VALID.replace(old, new, 1)
    assert text != VALID
    with pytest.raises(RulesError) as info:
        parse_rules(text, source="test.yaml")
    assert message in str(info.value)


def test_invalid_yaml() -> None:
    with pytest.raises(RulesError, match="not valid YAML"):
        parse_rules("rules: [unclosed", source="bad.yaml")


def test_missing_rules_file(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot read"):
        load_rules(tmp_path / "nope.yaml")


def test_load_rules_cached_and_reloaded_on_change(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(VALID)
    assert load_rules(path) is load_rules(path)
    import os

    path.write_text(VALID.replace('"t-1"', '"t-2"'))
    os.utime(path, ns=(1, 10**18))
    assert load_rules(path).version == "t-2"


def test_shipped_rules_are_valid() -> None:
    rules = load_rules(RULES)
    assert rules.version
    assert load_rules() == rules  # default path resolves to the shipped file
    assert len({r.code for r in rules.rules}) == len(rules.rules)


def test_scores_bands_decisions_reasons() -> None:
    rules = parse_rules(VALID)
    low = apply_rules(preprocess_event(event(home_ownership="OWN")), rules)
    assert (low.risk_score, low.risk_band, low.decision, low.reasons) == (0, "A", "approve", [])
    mid = apply_rules(preprocess_event(event(term=" 60 months", int_rate="10.5")), rules)
    assert (mid.risk_score, mid.risk_band, mid.decision) == (36, "B", "review")
    assert mid.reasons == ["TERM_60", "RENTER", "MID_RATE"]  # by points, descending
    high = apply_rules(
        preprocess_event(event(term="60", dti="30", fico_range_low=None, fico_range_high=None)),
        rules,
    )
    assert high.risk_score == 100  # 30 + 40 + 5 + 50 clamped
    assert (high.risk_band, high.decision) == ("C", "decline")
    assert high.reasons == ["NO_FICO", "HIGH_DTI", "TERM_60", "RENTER"]
    assert high.rules_version == "t-1"


def test_negative_points_clamped_at_zero() -> None:
    rules = parse_rules(VALID)
    rich = apply_rules(
        preprocess_event(event(annual_inc="10000000", home_ownership="OWN", loan_amnt="1000")),
        rules,
    )
    assert rich.risk_score == 0 and rich.reasons == ["RICH"]


def test_comparisons_on_missing_values_do_not_fire() -> None:
    rules = parse_rules(VALID)
    score = apply_rules(preprocess_event(event(dti=None, home_ownership=None)), rules)
    assert "HIGH_DTI" not in score.reasons and "RENTER" not in score.reasons


def test_shipped_rules_score_within_bounds() -> None:
    features, score = score_event(event(term=" 60 months", int_rate="28.99", dti="40"))
    assert 0 <= score.risk_score <= 100
    assert score.decision == "decline" and score.risk_band == "E"
    assert score.reasons[0] == "INT_RATE_22_PLUS"
    _, good = score_event(event(int_rate="5.32", fico_range_low="800", fico_range_high="804"))
    assert good.decision == "approve" and good.risk_band == "A"


def test_apply_rules_rejects_non_features() -> None:
    with pytest.raises(ScoringError):
        apply_rules({"loan_id": "1"})  # type: ignore[arg-type]


def test_rules_markdown_table() -> None:
    table = rules_markdown_table(load_rules(RULES))
    assert "| code | condition | points | description |" in table
    for rule in load_rules(RULES).rules:
        assert f"`{rule.code}`" in table


# --- features as of the application ----------------------------------------------------------


@pytest.mark.parametrize(
    ("issue_d", "as_of", "basis", "months"),
    [
        ("Sep-2016", date(2016, 9, 1), "issue_d", (2016 - 1998) * 12 + (9 - 8)),
        (" sep-16 ", date(2016, 9, 1), "issue_d", (2016 - 1998) * 12 + (9 - 8)),
        ("2016-09-01", date(2016, 9, 1), "issue_d", (2016 - 1998) * 12 + (9 - 8)),
        ("2016-09", date(2016, 9, 1), "issue_d", (2016 - 1998) * 12 + (9 - 8)),
        (None, date(2026, 11, 1), "event_time", (2026 - 1998) * 12 + (11 - 8)),
        ("  ", date(2026, 11, 1), "event_time", (2026 - 1998) * 12 + (11 - 8)),
    ],
)
def test_credit_history_is_measured_as_of_issue_d(
    issue_d: Any, as_of: date, basis: str, months: int
) -> None:
    f = preprocess_event(event(issue_d=issue_d))
    assert (f.features_as_of, f.features_as_of_basis) == (as_of, basis)
    assert f.credit_history_months == months


def test_replaying_later_changes_no_feature() -> None:
    first = preprocess_event(event(issue_d="Sep-2016", event_time="2016-09-03T10:00:00+00:00"))
    later = preprocess_event(event(issue_d="Sep-2016", event_time="2036-01-01T00:00:00+00:00"))
    assert {**first.as_row(), "event_time": None} == {**later.as_row(), "event_time": None}
    # a two-digit credit line year is read relative to the application, not the replay
    old = event(issue_d="Sep-2016", earliest_cr_line="Apr-20")
    assert preprocess_event(old).credit_history_months == (2016 - 1920) * 12 + 5
    assert preprocess_event(
        {**old, "event_time": "2030-01-01T00:00:00+00:00"}
    ) == dataclass_replace(preprocess_event(old), event_time=datetime(2030, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("issue_d", "reason"),
    [
        ("soon", "cannot parse 'soon' as a month like 'Sep-2016'"),
        ("2016-13-01", "as a month like"),
        (201609, "as a month like"),
        ("Sep-1850", "is before 1900"),
    ],
)
def test_unreadable_issue_d_is_an_error_not_replay_time(issue_d: Any, reason: str) -> None:
    with pytest.raises(ScoringError, match=reason) as info:
        preprocess_event(event(issue_d=issue_d))
    assert info.value.field == "issue_d"


def test_credit_line_after_the_application_is_an_error() -> None:
    with pytest.raises(ScoringError, match="not a credit line before issue_d") as info:
        preprocess_event(event(issue_d="Sep-2016", earliest_cr_line="Oct-2016"))
    assert info.value.field == "earliest_cr_line"
