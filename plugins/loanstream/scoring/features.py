"""One loan-application event -> :class:`Features`: the reference parser.

``preprocess_event`` parses what LendingClub files really contain (" 36 months", "11.53%",
"10+ years", "Apr-1997", blanks). It is the definition: the sink's native scorer
(``native/``) writes exactly its results or declines the event back to it. Every bound it
checks comes from :mod:`loanstream.scoring.limits`.

Bad input only ever raises :class:`ScoringError` (naming the field, the value and the reason).

Parsing decisions:

- Text values are stripped; ``None``, ``""`` and whitespace are blanks (``None`` for optional
  fields). JSON numbers are accepted for numeric fields; bools, lists and dicts never are.
- Numeric strings longer than ``max_numeric_chars`` are rejected without being parsed; NaN and
  infinities are rejected. Counts written as "1.0" are accepted, "1.5" is not.
- ``term``: " 36 months", "36 months", "36" or 36; only the ``term_months`` values are valid.
- ``int_rate`` / ``revol_util``: "11.53" or "11.53%".
- ``emp_length``: "10+ years" -> 10, "< 1 year" -> 0, "3 years" -> 3, "n/a" or blank -> None;
  LendingClub caps the field at 10, so larger values are capped at ``emp_length_cap``.
- Time-dependent features are measured **as of the application**: the month of ``issue_d``
  when the event has one, else the month of ``event_time`` (when the event was produced).
  :attr:`Features.features_as_of` is that month (its first day) and
  :attr:`Features.features_as_of_basis` says which field it came from, so a 2016 loan
  replayed in 2026 gets the features it had in 2016.
- ``earliest_cr_line`` and ``issue_d``: "Apr-1997", "Apr-97", "1997-04" or "1997-04-01".
  ``earliest_cr_line`` becomes whole months of credit history at ``features_as_of``; a credit
  line after it is an error. Two-digit years are in the century that puts them at or before
  the reference year (``features_as_of`` for credit lines, ``event_time`` for ``issue_d``).
- ``fico``: the mean of ``fico_range_low`` and ``fico_range_high``, or whichever is present.
- Bounds: values must fit the ``risk_scored`` columns; negative ``annual_inc``/``dti``/counts
  are errors; ``loan_amnt`` must be > 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from loanstream.scoring import limits as _limits
from loanstream.scoring.errors import ScoringError, show
from loanstream.scoring.forms import (
    NUMBER_RE,
    cell_value,
    employment_years,
    full_year,
    month_parts,
    term_months,
    to_float,
)

__all__ = [
    "AS_OF_BASES",
    "AS_OF_FIELDS",
    "FEATURE_FIELDS",
    "RULE_FIELDS",
    "Features",
    "features_as_of",
    "preprocess_event",
]

AS_OF_BASES = ("issue_d", "event_time")


@dataclass(frozen=True)
class Features:
    """The scored view of one application; field names match the ``risk_scored`` columns."""

    loan_id: str
    loan_amnt: float
    term_months: int
    int_rate: float | None
    annual_inc: float | None
    dti: float | None
    revol_util: float | None
    emp_length_years: int | None
    credit_history_months: int | None
    fico: float | None
    inq_last_6mths: int | None
    delinq_2yrs: int | None
    pub_rec: int | None
    home_ownership: str | None
    purpose: str | None
    event_time: datetime
    features_as_of: date  # the first day of the month time-dependent features are measured at
    features_as_of_basis: str  # where that month came from: "issue_d" or "event_time"

    def as_row(self) -> dict[str, Any]:
        """Column -> value for an insert into ``risk_scored`` (``event_time`` stays a datetime)."""
        return asdict(self)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (``event_time`` and ``features_as_of`` as ISO-8601)."""
        row = asdict(self)
        row["event_time"] = self.event_time.isoformat()
        row["features_as_of"] = self.features_as_of.isoformat()
        return row

    @property
    def income_to_loan(self) -> float | None:
        """``annual_inc / loan_amnt`` (derived; usable in rules)."""
        if self.annual_inc is None:
            return None
        return self.annual_inc / self.loan_amnt


FEATURE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Features))
AS_OF_FIELDS = ("features_as_of", "features_as_of_basis")
_DERIVED_FIELDS = ("income_to_loan",)
RULE_FIELDS: tuple[str, ...] = (
    tuple(name for name in FEATURE_FIELDS if name not in ("loan_id", "event_time", *AS_OF_FIELDS))
    + _DERIVED_FIELDS
)

# --------------------------------------------------------------------------------------------
# One raw value -> its parsed form (or ScoringError). ``raw`` is the event's value as is.
# --------------------------------------------------------------------------------------------


def _bounded(name: str, value: Any, number: float, bounds: tuple[float, float]) -> float:
    low, high = bounds
    if not low <= number <= high:
        raise ScoringError(name, value, f"{show(value)} is outside [{low:g}, {high:g}]")
    return number


def _number(name: str, raw: Any, bounds: tuple[float, float], percent: bool) -> float | None:
    value = cell_value(name, raw)
    if value is None:
        return None
    if type(value) is str and len(value) <= _limits.LIMITS.max_numeric_chars:
        # the common case, with to_float's checks in line: plain decimal text in range
        if NUMBER_RE.fullmatch(value):
            number = float(value)
            if bounds[0] <= number <= bounds[1]:  # also False for inf (NaN never matches)
                return number
    what = "a percentage" if percent else "a number"
    return _bounded(name, value, to_float(name, value, what, percent), bounds)


def _count(name: str, raw: Any) -> int | None:
    """A non-negative whole number; LendingClub writes counts as "1.0"."""
    value = cell_value(name, raw)
    if value is None:
        return None
    number = _bounded(name, value, to_float(name, value, "a count"), _limits.LIMITS.count)
    if not number.is_integer():
        raise ScoringError(name, value, f"{show(value)} is not a whole number")
    return int(number)


def _fico_bound(name: str, raw: Any) -> float | None:
    return _number(name, raw, _limits.LIMITS.fico, percent=False)


def _loan_id(raw: Any) -> str:
    value = cell_value("id", raw)
    if value is None:
        raise ScoringError("id", raw, "loan id is required")
    if isinstance(value, float):
        raise ScoringError("id", value, f"loan id must be text or an integer, got {show(value)}")
    text = str(value)
    if len(text) > _limits.LIMITS.max_text_chars or not text.isprintable():
        raise ScoringError("id", value, f"{show(value)} is not a valid loan id")
    return text


def _loan_amnt(raw: Any) -> float:
    value = cell_value("loan_amnt", raw)
    if value is None:
        raise ScoringError("loan_amnt", raw, "loan_amnt is required")
    loan_amnt = to_float("loan_amnt", value, "an amount")
    low, high = _limits.LIMITS.loan_amnt
    if not low < loan_amnt <= high:
        raise ScoringError("loan_amnt", value, f"{show(value)} is not > {low:g}")
    return loan_amnt


def _term(name: str, raw: Any) -> int:
    months = term_months(name, raw)
    terms = _limits.LIMITS.term_months
    if months not in terms:
        value = cell_value(name, raw)
        if isinstance(value, float):  # a whole float, or term_months had refused it
            value = int(value)
        allowed = " or ".join(map(str, terms))
        raise ScoringError(name, value, f"term {show(value)} is not {allowed} months")
    return months


def _category(name: str, raw: Any) -> str | None:
    value = cell_value(name, raw)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ScoringError(name, value, f"expected text, got {show(value)}")
    if len(value) > _limits.LIMITS.max_text_chars or not value.isprintable():
        raise ScoringError(name, value, f"{show(value)} is not a valid {name}")
    return value.upper() if name == "home_ownership" else value.lower()


def _event_time(raw: Any) -> datetime:
    value = cell_value("event_time", raw)
    if not isinstance(value, str):
        reason = "event_time is required" if value is None else "event_time must be ISO-8601 text"
        raise ScoringError("event_time", value, reason)
    if len(value) > _limits.LIMITS.max_text_chars:
        raise ScoringError("event_time", value, f"{show(value)} is too long for a timestamp")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ScoringError(
            "event_time", value, f"cannot parse {show(value)} as an ISO-8601 timestamp"
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ScoringError("event_time", value, f"{show(value)} has no time zone")
    if parsed.tzinfo is UTC:
        return parsed
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ScoringError("event_time", value, f"{show(value)} is out of range") from None


# --------------------------------------------------------------------------------------------
# Memos: fields with few distinct values (term, emp_length, ...) are parsed once per text.
# Only successes are stored, keyed by the exact raw text; cleared when the limits change.
# --------------------------------------------------------------------------------------------

_MISS = object()
_MEMO_LIMIT = 4096
T = TypeVar("T")


def _memoised(name: str, parse: Callable[[str, Any], T]) -> Callable[[Any], T]:
    """``parse(name, raw)``, remembered per raw text (bounded: odd input cannot grow it)."""
    memo: dict[str, Any] = {}
    _limits.on_change(memo.clear)

    def parsed(raw: Any) -> T:
        if type(raw) is not str:
            return parse(name, raw)
        result = memo.get(raw, _MISS)
        if result is _MISS:
            result = parse(name, raw)
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            memo[raw] = result
        return result

    return parsed


_parse_term = _memoised("term", _term)
_parse_emp_length = _memoised("emp_length", employment_years)
_parse_fico_low = _memoised("fico_range_low", _fico_bound)
_parse_fico_high = _memoised("fico_range_high", _fico_bound)
_parse_inq = _memoised("inq_last_6mths", _count)
_parse_delinq = _memoised("delinq_2yrs", _count)
_parse_pub_rec = _memoised("pub_rec", _count)
_parse_home = _memoised("home_ownership", _category)
_parse_purpose = _memoised("purpose", _category)
_parse_credit_line = _memoised("earliest_cr_line", month_parts)
_parse_issue_d = _memoised("issue_d", month_parts)


# --------------------------------------------------------------------------------------------
# The event
# --------------------------------------------------------------------------------------------


def _reader(event: Any) -> Callable[[str], Any]:
    """``event.get``, turning whatever a hostile Mapping raises into a ScoringError."""
    if type(event) is dict:
        return event.get
    if not isinstance(event, Mapping):
        raise ScoringError("event", event, f"expected a JSON object, got {type(event).__name__}")

    def get(name: str) -> Any:
        try:
            return event.get(name)
        except Exception as exc:
            raise ScoringError(name, None, f"cannot read field ({type(exc).__name__})") from None

    return get


def features_as_of(issue_d: Any, event_time: datetime) -> tuple[date, str]:
    """(the month time-dependent features are measured at, as its first day; "issue_d" or
    "event_time"): ``issue_d``'s month when it is given, else ``event_time``'s (UTC) month.

    A present but unreadable ``issue_d`` is a ScoringError, never silently replaced by
    ``event_time`` (that would make the features depend on when the event was replayed).
    """
    parts = _parse_issue_d(issue_d)
    if parts is None:
        return date(event_time.year, event_time.month, 1), "event_time"
    year, month, two_digit = parts
    year = full_year(year, two_digit, event_time.year)
    if year < _limits.LIMITS.min_year:
        raise ScoringError(
            "issue_d", issue_d, f"{show(issue_d)} is before {_limits.LIMITS.min_year}"
        )
    return date(year, month, 1), "issue_d"


def _credit_history(raw: Any, as_of: date, basis: str) -> int | None:
    parts = _parse_credit_line(raw)
    if parts is None:
        return None
    year, month, two_digit = parts
    year = full_year(year, two_digit, as_of.year)
    months = (as_of.year - year) * 12 + (as_of.month - month)
    if year < _limits.LIMITS.min_year or months < 0:
        value = cell_value("earliest_cr_line", raw)
        raise ScoringError(
            "earliest_cr_line", value, f"{show(value)} is not a credit line before {basis}"
        )
    return months


_new = object.__new__


def preprocess_event(event: Mapping[str, Any]) -> Features:
    """Parse and normalise one raw event (CSV column -> raw text) into :class:`Features`.

    Fields are checked in a fixed order; the first bad one raises its ScoringError.
    """
    get = _reader(event)
    limits = _limits.LIMITS
    loan_id = _loan_id(get("id"))
    event_time = _event_time(get("event_time"))
    loan_amnt = _loan_amnt(get("loan_amnt"))
    term = _parse_term(get("term"))
    int_rate = _number("int_rate", get("int_rate"), limits.int_rate, percent=True)
    annual_inc = _number("annual_inc", get("annual_inc"), limits.annual_inc, percent=False)
    dti = _number("dti", get("dti"), limits.dti, percent=False)
    revol_util = _number("revol_util", get("revol_util"), limits.revol_util, percent=True)
    emp_length = _parse_emp_length(get("emp_length"))
    as_of, basis = features_as_of(get("issue_d"), event_time)
    credit = _credit_history(get("earliest_cr_line"), as_of, basis)
    low, high = _parse_fico_low(get("fico_range_low")), _parse_fico_high(get("fico_range_high"))
    if low is not None and high is not None:
        if low > high:
            raise ScoringError(
                "fico_range_low", get("fico_range_low"), "fico_range_low > fico_range_high"
            )
        fico = (low + high) / 2
    else:
        fico = low if low is not None else high
    inq = _parse_inq(get("inq_last_6mths"))
    delinq = _parse_delinq(get("delinq_2yrs"))
    pub_rec = _parse_pub_rec(get("pub_rec"))
    home = _parse_home(get("home_ownership"))
    purpose = _parse_purpose(get("purpose"))
    # Features(...) runs a frozen dataclass __init__ (object.__setattr__ per field, ~4 µs);
    # filling the instance dict directly makes an equal, equally frozen instance.
    features = _new(Features)
    features.__dict__.update(
        loan_id=loan_id,
        loan_amnt=loan_amnt,
        term_months=term,
        int_rate=int_rate,
        annual_inc=annual_inc,
        dti=dti,
        revol_util=revol_util,
        emp_length_years=emp_length,
        credit_history_months=credit,
        fico=fico,
        inq_last_6mths=inq,
        delinq_2yrs=delinq,
        pub_rec=pub_rec,
        home_ownership=home,
        purpose=purpose,
        event_time=event_time,
        features_as_of=as_of,
        features_as_of_basis=basis,
    )
    return features
