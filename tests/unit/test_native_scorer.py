"""The native (Rust) batch scorer writes exactly the rows the Python path writes, or declines.

Its contract (``loanstream.native``): for every message it either writes the ``risk_scored``
row that ``loanstream.sink.score_message`` builds, as a CSV line, or declines the message and
the sink scores it in Python. So an event Python dead-letters must always be declined, and
a row it writes must equal Python's, column by column, once Postgres reads it (floats by
value: "10000.0" and "1e+16" are written as "10000.0" and "1e16").

Checked on every row of both samples (with several ``event_time`` forms and two rule sets),
untyped (every value text, as the producer writes it today) and typed (the
``loan_application`` events of :mod:`loanstream.contract`: JSON numbers, ISO months), on
hypothesis input (field values, typed values and raw-byte mutations) and on the hostile-event
corpus.
``make setup`` builds the scorer; these tests fail, not skip, when it is missing.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import json
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loanstream.contract.convert import Layout
from loanstream.native import NativeScoringUnavailable
from loanstream.produce.events import finish_event, iter_event_batches
from loanstream.scoring import RuleSet, limits, load_rules, parse_rules
from loanstream.scoring.native import load_batch_scorer
from loanstream.sink import ScoringSink, csv_lines, score_message
from tests.integration.test_hostile_events import _cases as hostile_cases
from tests.unit.test_contract import rows as csv_rows
from tests.unit.test_scoring_compiled import ALL_OPS
from tests.unit.test_scoring_properties import FIELDS, VALID, json_values, lc_like

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "include" / "data" / "loan_applications_sample.csv"
UTC_STAMPS = (
    "2026-11-25T03:40:00.123456+00:00",
    "2026-11-25T03:40:00+00:00",
    "2026-11-25T03:40:00.000000+00:00",  # isoformat() drops the zero microseconds
    "2024-02-29T23:59:59.999999Z",
)
OTHER_STAMPS = ("2026-11-25T05:40:00+02:00", "2026-11-25 03:40:00+00:00", "2026-11-25T03:40:00")


@functools.cache
def all_ops() -> RuleSet:
    return parse_rules(ALL_OPS)


@functools.cache
def native(rules: RuleSet) -> Any:
    try:
        scorer, _ = load_batch_scorer(rules, "on")
    except NativeScoringUnavailable as exc:
        pytest.fail(f"{exc} (cargo must be installed; `make setup` builds it)")
    return scorer


def message(value: bytes | None, offset: int = 0, headers: Any = None) -> Message:
    return Message(topic="loan_applications", partition=2, offset=offset, key=b"k", value=value,
                   headers=[("run_id", b"run-1")] if headers is None else headers)  # fmt: skip


NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def cells(line: str) -> list[Any]:
    """One CSV line as Postgres reads it: '' is NULL, numbers by value ("1e16" = "1e+16";
    text such as a loan id "NaN" stays text)."""
    return [
        float(cell) if NUMBER.fullmatch(cell) else cell
        for cell in next(csv.reader(io.StringIO(line)))
    ]


def python_lines(
    messages: list[Message], rules: RuleSet, as_of_columns: bool = True
) -> list[str | None]:
    """Python's row for each message as a CSV line, or None where it dead-letters; without
    ``as_of_columns``, less features_as_of and its basis (stored after purpose)."""
    from loanstream.sink.rows import ROW_COLUMNS

    at = ROW_COLUMNS.index("features_as_of")
    lines: list[str | None] = []
    for msg in messages:
        result = score_message(msg, rules, payload=False)
        if isinstance(result, str):
            lines.append(None)
            continue
        row = result[0]
        lines.append(csv_lines([row if as_of_columns else (*row[:at], *row[at + 2 :])]))
    return lines


def compare(messages: list[Message], rules: RuleSet, scorer: Any = None) -> tuple[int, int]:
    """Assert the contract on ``messages``; (rows written natively, declined)."""
    data, declined, score_counts = (scorer or native(rules)).score(messages)
    lines = iter(data.decode().splitlines(keepends=True))
    expected = python_lines(messages, rules)
    declined_set = set(declined)
    written = 0
    for index, want in enumerate(expected):
        if index in declined_set:
            continue
        assert want is not None, f"message {index}: Python dead-letters it, native scored it"
        got = next(lines)
        assert cells(got) == cells(want), f"message {index}:\n native {got}\n python {want}"
        written += 1
    assert next(lines, None) is None
    assert sum(score_counts) == written
    assert declined == sorted(declined_set)
    return written, len(declined)


def sample_messages(path: Path, stamp: str, typed: bool = False) -> list[Message]:
    """Each event the producer makes of ``path`` (typed ``loan_application`` events with
    ``typed``), finished with ``stamp``."""
    values = []
    for batch in iter_event_batches(path, typed=typed):
        values.extend(finish_event(body, stamp) for body in batch.bodies)
    return [message(v, offset=i) for i, v in enumerate(values)]


@pytest.mark.parametrize("stamp", UTC_STAMPS)
@pytest.mark.parametrize("sample", ["real", "shipped"])
def test_every_sample_row_is_written_natively_and_identically(
    sample: str, stamp: str, shared_csv: Path
) -> None:
    messages = sample_messages(shared_csv if sample == "real" else SHIPPED, stamp)
    if sample == "shipped":
        messages = messages[:20_000]
    assert_all_written_natively(messages)


def assert_all_written_natively(messages: list[Message]) -> None:
    """The producer's output is the plain form: the native path takes all of it, identically."""
    for rules in (load_rules(), all_ops()):
        written, declined = compare(messages, rules)
        assert declined == 0 and written == len(messages)


@pytest.mark.parametrize("stamp", OTHER_STAMPS)
def test_event_times_python_converts_are_declined(stamp: str, shared_csv: Path) -> None:
    messages = sample_messages(shared_csv, stamp)[:200]
    written, declined = compare(messages, load_rules())
    assert written == 0 and declined == len(messages)


def test_hostile_corpus_is_declined_or_identical(shared_csv: Path) -> None:
    valid = orjson.loads(sample_messages(shared_csv, UTC_STAMPS[0])[0].value())
    messages = [
        message(value, offset=i, headers=headers)
        for i, (_key, value, headers, _) in enumerate(hostile_cases(valid))
    ]
    messages.append(message(None, offset=len(messages)))  # a tombstone (no value)
    written, declined = compare(messages, load_rules())
    assert written >= 4  # sql-id, sql-purpose, long-key, desc-1mb: plain, so native
    assert declined >= 25


def test_headers_as_python_reads_them() -> None:
    value = orjson.dumps({**VALID, "event_time": UTC_STAMPS[0]})
    cases = [
        [],
        [("other", b"x"), ("run_id", None), ("run_id", b"second")],
        [("run_id", b"")],  # '' -> NULL, as Python's csv writes it
        [("run_id", b'r,1"')],
        [("run_id", b"caf\xc3\xa9")],  # non-ASCII: declined, Python stores it
        [("run_id", b"\xff")],
    ]
    compare([message(value, i, h) for i, h in enumerate(cases)], load_rules())


event_fields = st.dictionaries(
    st.sampled_from(FIELDS), lc_like | json_values | st.sampled_from(["", " ", "RENT", "car"])
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=event_fields, drop=st.sets(st.sampled_from(FIELDS), max_size=3), ascii=st.booleans())
def test_any_field_values_declined_or_identical(changes: dict, drop: set, ascii: bool) -> None:
    event = {**VALID, "event_time": UTC_STAMPS[0], **changes}
    for name in drop:
        event.pop(name, None)
    # the stdlib writes what orjson refuses to (huge ints, NaN, lone surrogates): all declined
    value = json.dumps(event, ensure_ascii=ascii).encode("utf-8", "surrogatepass")
    compare([message(value)], all_ops())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 3), st.binary(min_size=0, max_size=3)),
        min_size=1,
        max_size=3,
    )
)
def test_raw_byte_mutations_declined_or_identical(edits: list) -> None:
    value = bytearray(orjson.dumps({**VALID, "event_time": UTC_STAMPS[0], "desc": "a b"}))
    for position, cut, insert in edits:
        at = position % (len(value) + 1)
        value[at : at + cut] = insert
    compare([message(bytes(value))], load_rules())


@pytest.mark.parametrize(
    "text",
    [
        b' { "id" : "1" , "loan_amnt":"5000", "term":"36", "event_time":"2026-01-01T00:00:00Z" } ',
        b'{"id":"1","loan_amnt":"5000","term":"36","event_time":"2026-01-01T00:00:00Z","x":[1]}',
        b'{"id":"1","loan_amnt":"5000","term":"36","event_time":"2026-01-01T00:00:00Z","x":1.5}',
        b'{"id":"1","loan_amnt":"5000","term":"36","event_time":"2026-01-01T00:00:00Z","x":true}',
        b'{"id":"1","loan_amnt":"5000","term":"36","event_time":"2026-01-01T00:00:00Z","x":"\\n"}',
        b'{"id":"1","id":"2","loan_amnt":"5000","term":"36","event_time":"2026-01-01T00:00:00Z"}',
        b'{"id":"1","loan_amnt":5000,"term":"36","event_time":"2026-01-01T00:00:00Z"}',
        b'{"id":"1","loan_amnt":"5000","term":"36","event_time":"2026-01-01T00:00:00Z"}x',
        b'{"id":"1","loan_amnt":"5000","term":"36","event_time":"2026-01-01T00:00:00Z",}',
        b'{"id":"1","loan_amnt":"5000","term":"36","event_time":"2026-02-30T00:00:00Z"}',
        b'{"id":"1","loan_amnt":"1e3","term":"36 MONTHS","event_time":"2026-01-01T00:00:00Z"}',
        b'{"id":"1","loan_amnt":"5000","term":"36","event_time":"2026-01-01T00:00:00Z","x":01}',
        b'{"id":"\\u0031","loan_amnt":"5000","term":"36","event_time":"2026-01-01T00:00:00Z"}',
    ],
)
def test_json_forms_declined_or_identical(text: bytes) -> None:
    compare([message(text)], load_rules())


# Bounds to change, and whether the change leaves the sample's lines as they were
UNTYPED_LIMIT_CHANGES = [
    {"int_rate": (0.0, 12.0)},  # rows above 12 % become dead letters: declined natively
    {"loan_amnt": (1000.0, 20_000.0)},
    {"annual_inc": (1000.0, 1e6)},
    {"dti": (0.0, 20.0)},
    {"revol_util": (0.0, 50.0)},
    {"fico": (300.0, 700.0)},
    {"count": (0.0, 1.0)},
    {"term_months": (36,)},
    {"term_months": (36, 60, 84)},  # a wider table: must change nothing
    {"emp_length_cap": 5},  # "10+ years" -> 5, written natively
    {"emp_length_blanks": ("n/a", "10+ years")},  # "10+ years" becomes blank
    {"min_year": 1990},
    {"month_names": ("jan",)},
    {"max_text_chars": 10},  # "credit_card" is 11 characters
    {"max_numeric_chars": 4},
    {"max_short_chars": 8},  # " 36 months", "10+ years"
]
TYPED_LIMIT_CHANGES = [
    {"max_abs_int": 5},  # typed counts and emp_length above 5 are out of range
    {"emp_length_max": 5},  # a numeric emp_length above 5 is not a length in years
    {"emp_length_cap": 3},
    {"count": (0.0, 1.0)},
    {"term_months": (36,)},
    {"max_numeric_chars": 4},  # bounds text only: typed numbers are not refused by it
]
CHANGES_NOTHING = {(False, "term_months=(36, 60, 84)"), (True, "max_numeric_chars=4")}


def _limit_id(changes: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in changes.items())


@pytest.mark.parametrize(
    ("typed", "changes"),
    [(False, c) for c in UNTYPED_LIMIT_CHANGES] + [(True, c) for c in TYPED_LIMIT_CHANGES],
    ids=lambda value: _limit_id(value) if isinstance(value, dict) else ("typed" if value else "text"),
)
def test_native_scorer_follows_python_limits(typed: bool, changes: dict, shared_csv: Path) -> None:
    """Each bound lives once, in loanstream.scoring.limits: change it there and the native
    scorer, built afterwards, follows (declines what Python now refuses, writes what it now
    writes), on events of every column as text and on typed events alike."""
    messages = sample_messages(shared_csv, UTC_STAMPS[0], typed=typed)
    rules = load_rules()
    before = python_lines(messages, rules)
    with limits.override(**changes):
        after = python_lines(messages, rules)
        scorer, _ = load_batch_scorer(rules, "on")
        written, declined = compare(messages, rules, scorer)
    if (typed, _limit_id(changes)) in CHANGES_NOTHING:
        assert after == before and declined == 0
    else:
        assert after != before, "this bound changes nothing on the sample: pick another"
        assert declined == sum(line is None for line in after)
    assert written + declined == len(messages)
    # and back to the defaults
    assert compare(messages, rules, load_batch_scorer(rules, "on")[0]) == (len(messages), 0)


@pytest.mark.parametrize("as_of_columns", [True, False])
@pytest.mark.parametrize("drop_issue_d", [False, True])
def test_as_of_columns_as_python_writes_them(
    drop_issue_d: bool, as_of_columns: bool, shared_csv: Path
) -> None:
    messages = sample_messages(shared_csv, UTC_STAMPS[3])
    if drop_issue_d:  # features as of event_time
        messages = [
            message(orjson.dumps({**orjson.loads(m.value()), "issue_d": None}), m.offset())
            for m in messages
        ]
    rules = load_rules()
    scorer, _ = load_batch_scorer(rules, "on", as_of_columns=as_of_columns)
    data, declined, _ = scorer.score(messages)
    assert declined == []
    native_lines = data.decode().splitlines(keepends=True)
    python = python_lines(messages, rules, as_of_columns)
    assert [cells(line) for line in native_lines] == [cells(line) for line in python]
    basis = "event_time" if drop_issue_d else "issue_d"
    assert all((f",{basis}," in line) == as_of_columns for line in native_lines)


def test_a_limit_the_native_scorer_does_not_know_is_refused() -> None:
    from loanstream import _scoring_and_encoding

    rules = load_rules()
    bands, decisions = rules.score_table()
    args = ([], list(bands), list(decisions), rules.version)
    spec = limits.current().native_spec()
    with pytest.raises(ValueError, match="limit max_loans is not modelled natively"):
        _scoring_and_encoding.BatchScorer(*args, {**spec, "max_loans": 3})
    with pytest.raises(ValueError, match="min_year below 1000"):
        _scoring_and_encoding.BatchScorer(*args, {**spec, "min_year": 999})
    del spec["fico"]
    with pytest.raises(ValueError, match="limit fico is missing"):
        _scoring_and_encoding.BatchScorer(*args, spec)


def test_rule_sets_it_does_not_model_stay_in_python() -> None:
    rules = load_rules()
    odd = dataclasses.replace(rules.rules[0], points=2.5)
    float_points = dataclasses.replace(rules, rules=(odd, *rules.rules[1:]))
    scorer, why = load_batch_scorer(float_points, "auto")
    assert scorer is None and "points" in why
    with pytest.raises(NativeScoringUnavailable, match="points"):
        load_batch_scorer(float_points, "on")
    text_compare = dataclasses.replace(rules.rules[0], field="purpose", op="<", value="m")
    scorer, why = load_batch_scorer(dataclasses.replace(rules, rules=(text_compare,)), "auto")
    assert scorer is None and "not modelled" in why
    assert load_batch_scorer(rules, "off") == (None, "Python (LOANSTREAM_NATIVE_SCORING=off)")
    with pytest.raises(ValueError, match="LOANSTREAM_NATIVE_SCORING"):
        load_batch_scorer(rules, "fast")


def test_the_sink_uses_it_unless_republishing() -> None:
    kwargs = {"kafka_config": {"bootstrap.servers": "127.0.0.1:1"}, "pg_dsn": "", "topic": "t"}
    assert ScoringSink(**kwargs).scoring_path.startswith("native")
    assert ScoringSink(**kwargs, native="off").scoring_path.startswith("Python")
    republishing = ScoringSink(**kwargs, republish_topic="scored").scoring_path
    assert republishing == "Python (republishing builds a JSON payload per event)"


# --------------------------------------------------------------------------------------------
# Typed events (loan_application, loanstream.contract): JSON numbers and ISO months
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stamp", [UTC_STAMPS[0], UTC_STAMPS[1], UTC_STAMPS[3]])
@pytest.mark.parametrize("sample", ["real", "shipped"])
def test_every_typed_sample_row_is_written_natively_and_identically(
    sample: str, stamp: str, shared_csv: Path
) -> None:
    messages = sample_messages(shared_csv if sample == "real" else SHIPPED, stamp, typed=True)
    if sample == "shipped":
        messages = messages[:20_000]
    value = messages[0].value()
    assert b'"term":' in value and b'"term":"' not in value  # typed: a JSON integer
    assert_all_written_natively(messages)  # a typed row is as plain as its text


def test_typed_and_untyped_rows_are_the_same_rows(shared_csv: Path) -> None:
    """The same sample row, typed or not, makes the same native line (byte for byte)."""
    rules = load_rules()
    header, data = csv_rows(shared_csv)
    untyped = sample_messages(shared_csv, UTC_STAMPS[0])
    typed = sample_messages(shared_csv, UTC_STAMPS[0], typed=True)
    assert len(untyped) == len(typed) == len(data)
    assert native(rules).score(typed)[0] == native(rules).score(untyped)[0]




TYPED_VALID: dict[str, Any] = {
    **Layout.of(list(VALID)).typed([VALID[name] for name in VALID], 2026),
    "event_time": UTC_STAMPS[0],
}
NUMBER_FIELDS = ("loan_amnt", "int_rate", "annual_inc", "dti", "revol_util", "fico_range_low",
                 "fico_range_high", "inq_last_6mths", "delinq_2yrs", "pub_rec", "term",
                 "emp_length")  # fmt: skip
# JSON number text as written (the stdlib and orjson write only some of these forms)
json_number_text = st.from_regex(
    r"-?(0|[1-9]\d{0,24})(\.\d{1,20})?([eE][+-]?\d{1,4})?", fullmatch=True
) | st.from_regex(r"(0|[1-9]\d{0,2})(\.\d{1,3})?", fullmatch=True) | st.sampled_from(["-0", "-0.0", "0.0", "1e999", "-1e999", "1e-999", "36.0", "36e0", "3.6E1",
                     "60.000000000000001", "1000000000000000", "1000000000000001",
                     "18446744073709551616", "-9223372036854775809", "5e-324", "1E+2",
                     "7.0", "99", "100", "1000.0", "1000.5", "850.0", "300", "299.9999999999"])  # fmt: skip
typed_value = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(-3, 1100)
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.floats(-2.0, 1100.0)
    | st.integers(-3, 1100).map(float)
    | st.sampled_from([-0.0, 0.0, 1e16, 1e-7, 2.5e-7, 1e300, 36.0, 60.0, 10.0, 99.0, 100.0])
    | st.from_regex(r"(19|20)\d\d-(0?[1-9]|1[0-2])", fullmatch=True)  # ISO months
    | st.sampled_from(["2013-04", "1998-08", "2016-13", "1899-12", " 36 months", "7 years"])
)
RAW = "\x00raw\x00"  # stands for a JSON number's own text, put in after dumping


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    changes=st.dictionaries(
        st.sampled_from((*NUMBER_FIELDS, "issue_d", "earliest_cr_line", "id", "purpose")),
        typed_value,
        max_size=2,  # more and Python dead-letters nearly every example
    ),
    raw=st.one_of(st.none(), st.tuples(st.sampled_from(NUMBER_FIELDS), json_number_text)),
    other=st.one_of(st.none(), json_number_text),
)
def test_any_typed_values_declined_or_identical(
    changes: dict, raw: tuple[str, str] | None, other: str | None
) -> None:
    """Typed values of every kind (ints, floats, huge ints, exponents, negative zero, bools,
    nulls, months), and JSON number text in any form in a field scoring reads and in one it
    does not: the native row is Python's, or the event is declined."""
    event = {**TYPED_VALID, **changes}
    if raw is not None:
        event[raw[0]] = RAW
    if other is not None:
        event["tot_cur_bal"] = RAW + "o"
    # the stdlib writes what orjson refuses to (ints beyond 64 bits, NaN, Infinity): declined
    text = json.dumps(event)
    if raw is not None:
        text = text.replace(json.dumps(RAW), raw[1])
    if other is not None:
        text = text.replace(json.dumps(RAW + "o"), other)
    compare([message(text.encode())], all_ops())


@pytest.mark.parametrize(
    ("field", "value", "native_writes"),
    [
        ("loan_amnt", "5000", True),  # an int: float(5000)
        ("loan_amnt", "5000.0", True),
        ("loan_amnt", "5000.5", True),
        ("loan_amnt", "5e3", False),  # exponents: Python's
        ("loan_amnt", "-0.0", False),
        ("int_rate", "-0", True),  # orjson: the int 0
        ("int_rate", "0.1", True),
        ("delinq_2yrs", "1", True),
        ("delinq_2yrs", "1.0", True),
        ("delinq_2yrs", "1.5", False),  # Python: not a whole number
        ("pub_rec", "1000000000000001", False),  # Python: out of range (max_abs_int)
        ("term", "36", True),
        ("term", "60.0", True),
        ("term", "48", False),
        ("emp_length", "7", True),
        ("emp_length", "12", True),  # capped at 10
        ("emp_length", "100", False),
        ("emp_length", "7.5", False),
        ("issue_d", '"2013-04"', True),
        ("issue_d", "201304", False),
        ("earliest_cr_line", '"1998-08"', True),
        ("id", "123", False),  # Python reads str(123); left to it
        ("tot_cur_bal", "1e999", False),  # orjson refuses infinity: a dead letter
        ("tot_cur_bal", "1.5e7", True),
        ("tot_cur_bal", "123456789012345678901234567890", True),  # a float to orjson
    ],
)
def test_typed_forms(field: str, value: str, native_writes: bool) -> None:
    text = json.dumps({**TYPED_VALID, field: RAW}).replace(json.dumps(RAW), value)
    written, declined = compare([message(text.encode())], all_ops())
    assert (written, declined) == ((1, 0) if native_writes else (0, 1)), text
