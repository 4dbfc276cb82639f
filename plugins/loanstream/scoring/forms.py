"""How LendingClub writes a value: the forms a cell's text is read in, without bounds.

Numbers ("11.53", "11.53%" for a percentage), whole numbers ("1.0"), terms (" 36 months"),
employment lengths ("10+ years", "< 1 year", "n/a") and months ("Apr-1997", "Apr-97",
"1997-04", "1997-04-01"). The features (:mod:`.features`) read events with them and add the
bounds of :mod:`.limits`; the contract (:mod:`loanstream.contract.convert`) types a CSV row
with them, so a typed event is read exactly as its text was. Every failure is a
:class:`ScoringError` naming the field, the value and why.
"""

from __future__ import annotations

import math
import re
from typing import Any

from loanstream.scoring import limits as _limits
from loanstream.scoring.errors import ScoringError, show

NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?")
_TERM_RE = re.compile(r"(\d{1,3})\s*(?:months?)?", re.IGNORECASE)
_EMP_RE = re.compile(r"(<\s*)?(\d{1,2})\s*(\+)?\s*(?:years?|yrs?)?", re.IGNORECASE)
_MON_YEAR_RE = re.compile(r"([A-Za-z]{3})-(\d{2}|\d{4})")
_ISO_MONTH_RE = re.compile(r"(\d{4})-(\d{1,2})(?:-(\d{1,2}))?")
_MONTH_EXAMPLE = {"earliest_cr_line": "'Apr-1997'", "issue_d": "'Sep-2016'"}


def cell_value(name: str, raw: Any) -> Any:
    """``raw`` as stripped text, a number, or None for blanks; else ScoringError."""
    if raw is None:
        return None
    if isinstance(raw, str):
        return raw.strip() or None
    if isinstance(raw, bool):
        raise ScoringError(name, raw, f"expected text or a number, got {show(raw)}")
    if isinstance(raw, int | float):
        return raw
    raise ScoringError(
        name, raw, f"expected text or a number, got {type(raw).__name__} {show(raw)}"
    )


def to_float(name: str, value: Any, what: str, percent: bool = False) -> float:
    """Parse a (possibly ``%``-suffixed) number; fail fast on long or odd strings."""
    if isinstance(value, int):
        if abs(value) > _limits.LIMITS.max_abs_int:
            raise ScoringError(name, value, f"{show(value)} is out of range")
        return float(value)
    if isinstance(value, float):
        number = value
    else:
        text = value
        if len(text) > _limits.LIMITS.max_numeric_chars:
            raise ScoringError(name, value, f"cannot parse {show(value)} as {what}: too long")
        if percent and text.endswith("%"):
            text = text[:-1].rstrip()
        if not NUMBER_RE.fullmatch(text):
            raise ScoringError(name, value, f"cannot parse {show(value)} as {what}")
        number = float(text)
    if not math.isfinite(number):
        raise ScoringError(name, value, f"{show(value)} is not a finite number")
    return number


def number_value(name: str, raw: Any, percent: bool = False) -> float | None:
    """A number (or percentage: "11.53%" is 11.53) as written, without bounds: the contract's
    conversion of a number cell (the scorer's ``_number`` adds the bounds)."""
    value = cell_value(name, raw)
    if value is None:
        return None
    return to_float(name, value, "a percentage" if percent else "a number", percent)


def whole_value(name: str, raw: Any) -> int | None:
    """A whole number as written ("1.0" is 1, "1.5" is an error), without bounds."""
    value = cell_value(name, raw)
    if value is None:
        return None
    number = to_float(name, value, "a whole number")
    if not number.is_integer():
        raise ScoringError(name, value, f"{show(value)} is not a whole number")
    return int(number)


def iso_month(name: str, raw: Any, reference_year: int) -> str | None:
    """A month as ISO ``YYYY-MM`` ("Aug-1998" is "1998-08"; a two-digit year is put in the
    century that puts it at or before ``reference_year``, as the features do)."""
    parts = month_parts(name, raw)
    if parts is None:
        return None
    year, month, two_digit = parts
    return f"{full_year(year, two_digit, reference_year):04d}-{month:02d}"


def term_months(name: str, raw: Any) -> int:
    """The term in months as written (" 36 months", "36", 36): its form only, any number of
    months (the contract's conversion; ``_term`` adds the terms LendingClub offers)."""
    value = cell_value(name, raw)
    if value is None:
        raise ScoringError(name, raw, "term is required")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return value
    short = isinstance(value, str) and len(value) <= _limits.LIMITS.max_short_chars
    match = _TERM_RE.fullmatch(value) if short else None
    if match is None:
        raise ScoringError(name, value, f"cannot parse {show(value)} as a term in months")
    return int(match.group(1))


def employment_years(name: str, raw: Any) -> int | None:
    """Years in employment, 0 to ``emp_length_cap`` ("10+ years" is 10, "n/a" None)."""
    limits = _limits.LIMITS
    value = cell_value(name, raw)
    if value is None:
        return None
    if isinstance(value, str):
        if value.lower() in limits.emp_length_blanks:
            return None
        match = _EMP_RE.fullmatch(value) if len(value) <= limits.max_short_chars else None
        if match is None:
            raise ScoringError(name, value, f"cannot parse {show(value)} as an employment length")
        years = 0 if match.group(1) else int(match.group(2))
    else:
        number = to_float(name, value, "an employment length")
        if not number.is_integer() or not 0 <= number <= limits.emp_length_max:
            raise ScoringError(name, value, f"{show(value)} is not an employment length in years")
        years = int(number)
    return min(years, limits.emp_length_cap)


def month_parts(name: str, raw: Any) -> tuple[int, int, bool] | None:
    """(year, month, two-digit year?) of "Apr-1997", "Apr-97", "1997-04" or "1997-04-01"."""
    limits = _limits.LIMITS
    value = cell_value(name, raw)
    if value is None:
        return None
    parts = None
    if isinstance(value, str) and len(value) <= limits.max_short_chars:
        match = _MON_YEAR_RE.fullmatch(value)
        if match:
            name_ = match.group(1).lower()
            if name_ in limits.month_names:
                digits = match.group(2)
                parts = int(digits), limits.month_names.index(name_) + 1, len(digits) == 2
        elif match := _ISO_MONTH_RE.fullmatch(value):
            year, month = int(match.group(1)), int(match.group(2))
            day_ok = match.group(3) is None or 1 <= int(match.group(3)) <= 31
            if day_ok and 1 <= month <= 12:
                parts = year, month, False
    if parts is None:
        raise ScoringError(
            name, value, f"cannot parse {show(value)} as a month like {_MONTH_EXAMPLE[name]}"
        )
    return parts


def full_year(year: int, two_digit: bool, reference_year: int) -> int:
    """A two-digit year in the century that puts it at or before ``reference_year``."""
    if not two_digit:
        return year
    return year + (2000 if 2000 + year <= reference_year else 1900)
