"""A CSV row -> the typed fields of a ``loan_application`` event: the definition.

Each kind of :mod:`.fields` turns a cell's text into its JSON value with the scorer's own
parsing forms (:mod:`loanstream.scoring.forms`: ``number_value``, ``whole_value``,
``term_months``, ``employment_years``, ``iso_month``), so a typed event scores exactly as the
untyped event of the same row did. Forms only, no bounds: a value outside what the scorer
accepts (a 48-month term, a dti of 1,000) still travels, and the sink dead-letters it with
its reason, as before. A cell whose text has no reading in its kind (``"abc"`` as an amount)
cannot be typed: :class:`ContractError` names the field, and the producer rejects the row
with its row number.

Columns outside the contract are never forwarded: :class:`Layout` maps a file's header to the
fields once, and :meth:`Layout.dropped` names the columns it leaves out (each batch of
``iter_event_batches(typed=True)`` counts them per column).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from loanstream.contract.fields import EVENT_TIME_FIELD, FIELDS, Field
from loanstream.scoring import limits as _limits
from loanstream.scoring.errors import ScoringError
from loanstream.scoring.forms import (
    employment_years,
    iso_month,
    number_value,
    term_months,
    whole_value,
)


class ContractError(ValueError):
    """A cell that cannot be typed as its field's kind: names the field, the value and why."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        super().__init__(reason if reason.startswith("field ") else f"field {field!r}: {reason}")


def _text(field: Field, cell: str) -> str | None:
    return cell.strip() or None


def _id(field: Field, cell: str) -> str | None:
    text = cell.strip()
    if not text.isdigit() or not text.isascii():
        raise ContractError(field.name, f"loan id {text!r} is not digits")
    return text


def typed_value(field: Field, cell: str | None, reference_year: int, issue_year: int | None) -> Any:
    """``cell`` (the CSV text, None for an absent column) as ``field``'s JSON value.

    ``reference_year`` is the year two-digit issue months are read against (the event's
    year, as the features read them); credit lines are read against ``issue_year`` when the
    row has an issue month (the features' as-of month), else ``reference_year``.
    """
    if cell is None or not cell.strip():
        if not field.nullable:
            raise ContractError(field.name, f"{field.name} is required")
        return None
    kind = field.kind
    try:
        if kind == "number":
            return number_value(field.name, cell, percent=field.unit == "percent")
        if kind == "integer":
            return whole_value(field.name, cell)
        if kind == "term_months":
            return term_months(field.name, cell)
        if kind == "years":
            return employment_years(field.name, cell)
        if kind == "month":
            year = reference_year if field.name == "issue_d" or issue_year is None else issue_year
            return iso_month(field.name, cell, year)
        if kind == "id":
            return _id(field, cell)
        return _text(field, cell)  # category, text
    except ScoringError as exc:
        raise ContractError(field.name, str(exc)) from None


@dataclass(frozen=True)
class Layout:
    """Where each contract field stands in a file's header (None: the file lacks it)."""

    header: tuple[str, ...]
    positions: tuple[int | None, ...]

    @classmethod
    def of(cls, header: Sequence[str]) -> Layout:
        index = {name: i for i, name in enumerate(header)}
        return cls(tuple(header), tuple(index.get(f.name) for f in FIELDS))

    def dropped(self) -> list[str]:
        """The file's columns that no event carries (``event_time`` is the producer's own)."""
        wanted = {f.name for f in FIELDS} | {EVENT_TIME_FIELD}
        return [name for name in self.header if name not in wanted]

    def typed(self, values: Sequence[str], reference_year: int) -> dict[str, Any]:
        """The row's fields, typed, in contract order (``event_time`` is added on sending).

        ``issue_d`` is typed first: its year is what the row's credit line is read against."""
        cells = [values[i] if i is not None else None for i in self.positions]
        issue = typed_value(FIELDS[_ISSUE_INDEX], cells[_ISSUE_INDEX], reference_year, None)
        issue_year = int(issue[:4]) if issue else None
        return {
            f.name: issue if i == _ISSUE_INDEX else typed_value(f, cell, reference_year, issue_year)
            for i, (f, cell) in enumerate(zip(FIELDS, cells, strict=True))
        }


# The limits the forms read (the native typed encoder models their defaults).
_FORM_LIMITS = (
    "max_numeric_chars", "max_short_chars", "emp_length_cap", "emp_length_blanks", "month_names"
)  # fmt: skip


def forms_are_default() -> bool:
    """Whether the limits in force read the forms as their defaults do (text lengths, the
    employment-length cap and blanks, month names): what the native typed encoder models."""
    now, default = _limits.current(), _limits.Limits()
    return all(getattr(now, name) == getattr(default, name) for name in _FORM_LIMITS)


_ISSUE_INDEX = next(i for i, f in enumerate(FIELDS) if f.name == "issue_d")
