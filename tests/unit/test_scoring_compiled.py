"""The compiled rules give exactly what the rule-by-rule definition gives; any Mapping parses
as a dict does.

``apply_rules`` runs a rule set compiled into one function (``loanstream.scoring.compiled``);
it is checked against ``score_rule_by_rule``'s definition on every row of the real LendingClub
sample and the shipped synthetic sample, and on arbitrary input. ``preprocess_event`` reads a
dict with ``dict.get`` and other Mappings through a guarded reader: results and errors agree.
"""

from __future__ import annotations

import csv
import dataclasses
import pickle
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loanstream.produce.events import row_to_event
from loanstream.scoring import (
    Features,
    RuleSet,
    Score,
    ScoringError,
    apply_rules,
    load_rules,
    parse_rules,
    preprocess_event,
)
from tests.unit.test_scoring_properties import FIELDS, VALID, json_values, lc_like

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "include" / "data" / "loan_applications_sample.csv"

# Every operator, on every kind of field, including the derived one.
ALL_OPS = """
version: "ops-1"
bands: [{band: A, min_score: 0}, {band: B, min_score: 10}, {band: C, min_score: 30}]
decisions: {review_at: 10, decline_at: 30}
rules:
  - {code: R1, description: d, when: {field: int_rate, op: "<", value: 9}, points: 3}
  - {code: R2, description: d, when: {field: int_rate, op: "<=", value: 10.99}, points: 3}
  - {code: R3, description: d, when: {field: dti, op: ">", value: 20.5}, points: 7}
  - {code: R4, description: d, when: {field: fico, op: ">=", value: 700}, points: -4}
  - {code: R5, description: d, when: {field: term_months, op: "==", value: 60}, points: 7}
  - {code: R6, description: d, when: {field: purpose, op: "==", value: credit_card}, points: 1}
  - {code: R7, description: d, when: {field: home_ownership, op: in, value: [RENT, OWN]}, points: 2}
  - {code: R8, description: d, when: {field: pub_rec, op: in, value: [1, 2.0]}, points: 5}
  - {code: R9, description: d, when: {field: revol_util, op: between, value: [30, 60.5]}, points: 3}
  - {code: R10, description: d, when: {field: emp_length_years, op: missing, value: true}, points: 9}
  - {code: R11, description: d, when: {field: credit_history_months, op: missing, value: false}, points: 1}
  - {code: R12, description: d, when: {field: income_to_loan, op: "<", value: 5}, points: 4}
  - {code: R13, description: d, when: {field: annual_inc, op: missing, value: true}, points: 40}
  - {code: R14, description: d, when: {field: loan_amnt, op: between, value: [1000, 10000]}, points: -20}
"""


def reference_preprocess(event: dict[str, Any]) -> Features:
    """The same event as a read-only Mapping (the guarded reader)."""
    return preprocess_event(MappingProxyType(event))


def reference_score(features: Features, ruleset: RuleSet) -> Score:
    """apply_rules as first written: Rule.matches per rule, sort, clamp, band, decision."""
    fired = [rule for rule in ruleset.rules if rule.matches(features)]
    total = max(0, min(100, sum(rule.points for rule in fired)))
    fired.sort(key=lambda rule: -rule.points)
    return Score(total, ruleset.band(total), ruleset.decision(total),
                 [rule.code for rule in fired], ruleset.version)  # fmt: skip


def csv_events(path: Path) -> list[dict[str, Any]]:
    """Each row as the sink sees it (JSON round trip), with three kinds of event_time; every
    third row without its issue_d (features as of event_time)."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = list(reader)
    events = []
    for i, values in enumerate(rows):
        stamp = ("2026-11-25T03:40:00.123456+00:00", "2026-11-25T05:40:00+02:00", "2019-01-01T00:00:00Z")[i % 3]  # fmt: skip
        event = row_to_event(header, values, stamp)
        if i % 3 == 2:
            event.pop("issue_d", None)
        events.append(orjson.loads(orjson.dumps(event)))
    return events


@pytest.fixture(scope="module", params=["real", "shipped"])
def events(request: pytest.FixtureRequest, shared_csv: Path) -> list[dict[str, Any]]:
    return csv_events(shared_csv if request.param == "real" else SHIPPED)


def outcome(fn, event: Any) -> Any:
    try:
        return fn(event)
    except ScoringError as exc:
        return ("error", exc.field, exc.reason, repr(exc.value), str(exc))


@pytest.mark.parametrize("rules", ["shipped", "all_ops"])
def test_every_row_identical_to_reference(events: list[dict[str, Any]], rules: str) -> None:
    ruleset = load_rules() if rules == "shipped" else parse_rules(ALL_OPS)
    scored = 0
    for _ in range(2):  # second pass: memos warm
        for event in events:
            fast, slow = outcome(preprocess_event, event), outcome(reference_preprocess, event)
            assert fast == slow, event.get("id")
            if isinstance(fast, Features):
                assert vars(fast) == vars(slow)  # same values and types (36 vs 36.0, None)
                assert [type(v) for v in vars(fast).values()] == [
                    type(v) for v in vars(slow).values()
                ]
                score = apply_rules(fast, ruleset)
                assert score == reference_score(slow, ruleset), event.get("id")
                assert type(score.risk_score) is int
                scored += 1
    assert scored > len(events)  # most rows score (the real file has a few odd ones)


def test_fast_instances_behave_like_constructed_ones() -> None:
    event = {**VALID}
    fast = preprocess_event(event)
    slow = reference_preprocess(event)
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    assert fast.as_row() == slow.as_row() and fast.to_dict() == slow.to_dict()
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.dti = 1.0  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(fast)) == slow
    score = apply_rules(fast, load_rules())
    with pytest.raises(dataclasses.FrozenInstanceError):
        score.risk_score = 1  # type: ignore[misc]
    assert score.to_dict() == reference_score(slow, load_rules()).to_dict()


def test_compiled_rules_survive_pickle_and_replace() -> None:
    ruleset = parse_rules(ALL_OPS)
    features = preprocess_event({**VALID})
    first = apply_rules(features, ruleset)
    again = pickle.loads(pickle.dumps(ruleset))
    assert again == ruleset and apply_rules(features, again) == first
    bumped = dataclasses.replace(ruleset, version="ops-2")
    assert apply_rules(features, bumped).rules_version == "ops-2"


def test_hand_built_rule_sets_fall_back_to_rule_by_rule() -> None:
    ruleset = parse_rules(ALL_OPS)
    odd = dataclasses.replace(ruleset.rules[0], points=2.5)  # not from a validated file
    hand_built = dataclasses.replace(ruleset, rules=(odd, *ruleset.rules[1:]))
    features = preprocess_event({**VALID, "int_rate": "5"})
    assert apply_rules(features, hand_built) == reference_score(features, hand_built)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIELDS), st.text(max_size=60) | lc_like | json_values)
def test_arbitrary_value_same_result_or_same_error(field: str, value: Any) -> None:
    event = {**VALID, field: value}
    assert outcome(preprocess_event, event) == outcome(reference_preprocess, event)


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries({name: st.none() | st.text(max_size=12) | lc_like for name in FIELDS}))
def test_all_fields_arbitrary_same_result_or_same_error(event: dict[str, Any]) -> None:
    fast, slow = outcome(preprocess_event, event), outcome(reference_preprocess, event)
    assert fast == slow
    if isinstance(fast, Features):
        for ruleset in (load_rules(), parse_rules(ALL_OPS)):
            assert apply_rules(fast, ruleset) == reference_score(slow, ruleset)


def test_sink_rows_and_payloads_as_built_field_by_field(shared_csv: Path) -> None:
    from confluent_kafka import Message

    from loanstream.sink import ROW_COLUMNS, score_message

    ruleset = load_rules()
    for offset, event in enumerate(csv_events(shared_csv)[:300]):
        msg = Message(topic="t", partition=2, offset=offset, key=b"k", value=orjson.dumps(event),
                      headers=[("x", b"y"), ("run_id", b"r1")])  # fmt: skip
        result = score_message(msg, ruleset)
        try:
            features = reference_preprocess(event)
        except ScoringError as exc:
            assert result == str(exc)
            continue
        score = reference_score(features, ruleset)
        expected = {**features.as_row(), **score.to_dict()}
        expected.update(reasons=orjson.dumps(score.reasons).decode(),
                        event_time=features.event_time.isoformat(), run_id="r1",
                        src_topic="t", src_partition=2, src_offset=offset)  # fmt: skip
        row, payload = result
        assert row == tuple(expected[c] for c in ROW_COLUMNS)
        assert [type(v) for v in row] == [type(expected[c]) for c in ROW_COLUMNS]
        assert payload == {"loan_id": features.loan_id, **score.to_dict(),
                           "event_time": features.event_time.isoformat()}  # fmt: skip
        assert score_message(msg, ruleset, payload=False) == (row, None)
