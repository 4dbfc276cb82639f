"""Property tests: arbitrary input only ever yields valid Features/Score or a ScoringError."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loanstream.scoring import Features, ScoringError, apply_rules, load_rules, preprocess_event

pytestmark = pytest.mark.unit

RULES = load_rules()
FIELDS = (
    "id",
    "loan_amnt",
    "term",
    "int_rate",
    "annual_inc",
    "dti",
    "revol_util",
    "emp_length",
    "earliest_cr_line",
    "fico_range_low",
    "fico_range_high",
    "inq_last_6mths",
    "delinq_2yrs",
    "pub_rec",
    "home_ownership",
    "purpose",
    "event_time",
    "issue_d",
)
VALID: dict[str, Any] = {
    "id": "1",
    "loan_amnt": "10000.0",
    "term": " 36 months",
    "int_rate": "11.53",
    "annual_inc": "60000.0",
    "dti": "15.99",
    "revol_util": "18.1",
    "emp_length": "3 years",
    "earliest_cr_line": "Aug-1998",
    "fico_range_low": "675.0",
    "fico_range_high": "679.0",
    "inq_last_6mths": "0.0",
    "delinq_2yrs": "0.0",
    "pub_rec": "0.0",
    "home_ownership": "RENT",
    "purpose": "credit_card",
    "event_time": "2026-11-25T03:40:00.123456+00:00",
}

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)
# strings that look almost like LendingClub values, to reach the deeper parsing branches
lc_like = st.from_regex(
    r"\s?(<\s?)?[-+]?\d{0,4}(\.\d{0,3})?([eE]\d{1,3})?\s?(%|\+| months| years?|-\d{2,4})?\s?",
    fullmatch=True,
) | st.sampled_from(
    [
        "Apr-1997",
        "Apr-97",
        "Sep-2016",
        "1997-04",
        "Feb-31",
        "n/a",
        "10+ years",
        " 60 months",
        "NaN",
        "inf",
        "-0",
        "2026-02-30T00:00:00+00:00",
        "9999-12-31T23:59:59-23:59",
        "0001-01-01T00:00Z",
    ]
)


def check(event: Any) -> None:
    try:
        features = preprocess_event(event)
    except ScoringError as exc:
        assert exc.field and isinstance(exc.reason, str)
        assert str(exc).startswith(f"field {exc.field!r}")
        return
    assert isinstance(features, Features)
    assert features.loan_id and features.loan_amnt > 0 and features.term_months in (36, 60)
    assert features.event_time.utcoffset() is not None
    for name in ("int_rate", "annual_inc", "dti", "revol_util", "fico"):
        value = getattr(features, name)
        assert value is None or (math.isfinite(value) and value >= 0)
    for name in ("emp_length_years", "inq_last_6mths", "delinq_2yrs", "pub_rec"):
        value = getattr(features, name)
        assert value is None or (isinstance(value, int) and value >= 0)
    score = apply_rules(features, RULES)
    assert 0 <= score.risk_score <= 100
    assert score.decision in ("approve", "review", "decline")
    assert score.risk_band in {band for band, _ in RULES.bands}


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(max_size=20), json_values, max_size=10))
def test_arbitrary_dicts(event: dict[str, Any]) -> None:
    check(event)


@settings(max_examples=300)
@given(json_values)
def test_arbitrary_json(event: Any) -> None:
    check(event)


@pytest.mark.parametrize("field", FIELDS)
@settings(max_examples=150, deadline=None)
@given(value=st.text(max_size=60) | lc_like)
def test_arbitrary_string_per_field(field: str, value: str) -> None:
    check({**VALID, field: value})


@pytest.mark.parametrize("field", FIELDS)
@settings(max_examples=60, deadline=None)
@given(value=json_values)
def test_arbitrary_json_value_per_field(field: str, value: Any) -> None:
    check({**VALID, field: value})


@settings(max_examples=200)
@given(st.fixed_dictionaries({name: st.none() | st.text(max_size=12) | lc_like for name in FIELDS}))
def test_all_fields_arbitrary(event: dict[str, Any]) -> None:
    check(event)
