"""The ``loan_application`` contract: one definition of the fields, their JSON Schema, and rows
typed the way the scorer reads them (both samples, every row)."""

from __future__ import annotations

import csv
from pathlib import Path

import jsonschema
import pytest

from loanstream.contract import fields
from loanstream.contract.convert import ContractError, Layout, typed_value
from loanstream.contract.schema import json_schema, schema_text
from loanstream.scoring import ScoringError, preprocess_event
from loanstream.validation.expectations import REQUIRED_COLUMNS

pytestmark = pytest.mark.unit

SHIPPED = Path(__file__).resolve().parents[2] / "include" / "data" / "loan_applications_sample.csv"
EVENT_TIME = "2026-11-25T03:40:00.123456+00:00"
# the fields the scorer reads (preprocess_event's get(...) calls)
SCORER_FIELDS = (
    "id", "loan_amnt", "term", "int_rate", "annual_inc", "dti", "revol_util", "emp_length",
    "issue_d", "earliest_cr_line", "fico_range_low", "fico_range_high", "inq_last_6mths",
    "delinq_2yrs", "pub_rec", "home_ownership", "purpose",
)  # fmt: skip


def rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        return header, [r for r in reader if len(r) == len(header) and r[0].strip().isdigit()]


@pytest.fixture(params=["shipped", "real"])
def sample(request: pytest.FixtureRequest, shared_csv: Path) -> tuple[list[str], list[list[str]]]:
    return rows(SHIPPED if request.param == "shipped" else shared_csv)


def test_the_schema_is_valid_draft7_and_closed() -> None:
    schema = json_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {*fields.FIELD_NAMES, fields.EVENT_TIME_FIELD}
    assert schema_text() == schema_text()  # canonical: the same text registers as one schema


def test_no_outcome_column_is_a_field() -> None:
    assert not fields.OUTCOME_COLUMNS & set(fields.FIELD_NAMES)
    assert fields.why_dropped("loan_status").startswith("known only after")
    assert fields.why_dropped("risk_score") == "not in the loan_application contract"


def test_the_scorer_and_the_validation_read_contract_fields() -> None:
    """One list: every field the scorer reads, and every required column validation checks
    (outcomes apart: the evaluation reads those from the CSV), is a field of the contract."""
    assert set(SCORER_FIELDS) <= set(fields.FIELD_NAMES)
    assert set(REQUIRED_COLUMNS) - fields.OUTCOME_COLUMNS <= set(fields.FIELD_NAMES)


def test_every_row_of_both_samples_types_and_conforms(sample) -> None:
    header, data = sample
    layout = Layout.of(header)
    assert "loan_status" in layout.dropped() and "id" not in layout.dropped()
    validator = jsonschema.Draft7Validator(json_schema(), format_checker=None)
    for values in data:
        event = {**layout.typed(values, 2026), fields.EVENT_TIME_FIELD: EVENT_TIME}
        errors = [e.message for e in validator.iter_errors(event)]
        assert errors == [], (values[0], errors)
        assert isinstance(event["loan_amnt"], float) and isinstance(event["term"], int)


def test_typed_events_score_exactly_as_their_text(sample) -> None:
    header, data = sample
    layout = Layout.of(header)
    for values in data:
        untyped = {**dict(zip(header, [v or None for v in values])), "event_time": EVENT_TIME}
        typed = {**layout.typed(values, 2026), "event_time": EVENT_TIME}
        try:
            expected = preprocess_event(untyped)
        except ScoringError as exc:
            with pytest.raises(ScoringError) as caught:
                preprocess_event(typed)
            assert caught.value.field == exc.field, values[0]
        else:
            assert preprocess_event(typed) == expected, values[0]


@pytest.mark.parametrize(
    ("name", "cell", "value"),
    [
        ("term", " 36 months", 36),
        ("term", "48", 48),  # forms only: the scorer dead-letters a 48-month term
        ("int_rate", "11.53%", 11.53),
        ("int_rate", " 9.49", 9.49),
        ("emp_length", "10+ years", 10),
        ("emp_length", "< 1 year", 0),
        ("emp_length", "n/a", None),
        ("issue_d", "Sep-2016", "2016-09"),
        ("issue_d", "Sep-16", "2016-09"),
        ("issue_d", "2016-09-01", "2016-09"),
        ("delinq_2yrs", "1.0", 1),
        ("emp_title", "  Nurse  ", "Nurse"),
        ("dti", "", None),
        ("id", " 123 ", "123"),
    ],
)
def test_cells_become_typed_values(name: str, cell: str, value: object) -> None:
    assert typed_value(fields.BY_NAME[name], cell, 2026, None) == value


def test_a_credit_line_reads_two_digit_years_against_the_issue_year() -> None:
    field = fields.BY_NAME["earliest_cr_line"]
    assert typed_value(field, "Aug-98", 2026, 2016) == "1998-08"
    assert typed_value(field, "Aug-15", 2026, 2016) == "2015-08"
    assert typed_value(field, "Aug-15", 2026, 2012) == "1915-08"


@pytest.mark.parametrize(
    ("name", "cell", "words"),
    [
        ("loan_amnt", "abc", "cannot parse 'abc'"),
        ("delinq_2yrs", "1.5", "not a whole number"),
        ("issue_d", "Foo-2016", "cannot parse 'Foo-2016' as a month"),
        ("id", "12a", "not digits"),
        ("loan_amnt", " ", "loan_amnt is required"),
    ],
)
def test_an_untypable_cell_names_its_field(name: str, cell: str, words: str) -> None:
    with pytest.raises(ContractError) as caught:
        typed_value(fields.BY_NAME[name], cell, 2026, None)
    assert caught.value.field == name and words in str(caught.value)
    assert str(caught.value).startswith(f"field '{name}'")


def test_a_file_without_optional_columns_types_them_as_null() -> None:
    layout = Layout.of(["id", "loan_amnt", "term", "risk_score", "decision"])
    event = layout.typed(["7", "1000", "36 months", "12", "approve"], 2026)
    assert event["id"] == "7" and event["annual_inc"] is None
    assert "decision" not in event and layout.dropped() == ["risk_score", "decision"]


def test_docs_events_holds_the_generated_field_table() -> None:
    from loanstream.contract.docs import generated_section

    doc = (Path(__file__).resolve().parents[2] / "docs" / "EVENTS.md").read_text()
    assert generated_section() in doc, "run python -m loanstream.contract.docs, paste the table"


def test_docs_events_holds_the_generated_decision_table() -> None:
    from loanstream.contract.docs import decision_section

    doc = (Path(__file__).resolve().parents[2] / "docs" / "EVENTS.md").read_text()
    assert decision_section() in doc, "run python -m loanstream.contract.docs, paste the table"
