"""Turn one loan-application event into features and a rule-based risk score.

``preprocess_event`` parses what LendingClub files really contain (" 36 months", "11.53%",
"10+ years", "Apr-1997", blanks) into :class:`Features`; ``apply_rules`` scores them with the
versioned rule set kept as data in ``include/rules/risk_rules.yaml``.

Bad input only ever raises :class:`ScoringError` (naming the field, the value and the reason);
a bad rules file raises :class:`RulesError` when it is loaded.

Parsing decisions:

- Text values are stripped; ``None``, ``""`` and whitespace are blanks (``None`` for optional
  fields). JSON numbers are accepted for numeric fields; bools, lists and dicts never are.
- Numeric strings longer than 64 characters are rejected without being parsed; NaN and
  infinities are rejected. Counts written as "1.0" are accepted, "1.5" is not.
- ``term``: " 36 months", "36 months", "36" or 36; only 36 and 60 are valid.
- ``int_rate`` / ``revol_util``: "11.53" or "11.53%".
- ``emp_length``: "10+ years" -> 10, "< 1 year" -> 0, "3 years" -> 3, "n/a" or blank -> None;
  LendingClub caps the field at 10, so larger values are capped at 10.
- ``earliest_cr_line``: "Apr-1997", "Apr-97", "1997-04" or "1997-04-01", turned into whole
  months of credit history at ``event_time``. Two-digit years are in the century that puts
  them at or before the event year. A credit line after ``event_time`` is an error.
- ``fico``: the mean of ``fico_range_low`` and ``fico_range_high``, or whichever is present.
- Bounds: values must fit the ``risk_scored`` columns; negative ``annual_inc``/``dti``/counts
  are errors; ``loan_amnt`` must be > 0.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "FEATURE_FIELDS",
    "RULE_FIELDS",
    "Features",
    "Rule",
    "RuleSet",
    "RulesError",
    "Score",
    "ScoringError",
    "apply_rules",
    "default_rules_path",
    "load_rules",
    "preprocess_event",
    "rules_markdown_table",
    "score_event",
]

MAX_NUMERIC_CHARS = 64
MAX_TEXT_CHARS = 64
_VALUE_REPR_CHARS = 60


class ScoringError(ValueError):
    """An event that cannot be scored: names the field, the offending value and why."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"field {field!r}: {reason}")


class RulesError(ValueError):
    """A rules file that is not valid: names the rule (if any) and the problem."""


def _show(value: Any) -> str:
    """A short repr of ``value`` for error messages (never the whole 1 MB string)."""
    if isinstance(value, str) and len(value) > _VALUE_REPR_CHARS:
        return repr(value[:_VALUE_REPR_CHARS]) + f"... ({len(value)} chars)"
    text = repr(value)
    if len(text) > _VALUE_REPR_CHARS + 10:
        return text[:_VALUE_REPR_CHARS] + f"... ({type(value).__name__})"
    return text


# --------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------


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

    def as_row(self) -> dict[str, Any]:
        """Column -> value for an insert into ``risk_scored`` (``event_time`` stays a datetime)."""
        return asdict(self)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (``event_time`` as ISO-8601)."""
        row = asdict(self)
        row["event_time"] = self.event_time.isoformat()
        return row

    @property
    def income_to_loan(self) -> float | None:
        """``annual_inc / loan_amnt`` (derived; usable in rules)."""
        if self.annual_inc is None:
            return None
        return self.annual_inc / self.loan_amnt


FEATURE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Features))
_DERIVED_FIELDS = ("income_to_loan",)
RULE_FIELDS: tuple[str, ...] = (
    tuple(name for name in FEATURE_FIELDS if name not in ("loan_id", "event_time"))
    + _DERIVED_FIELDS
)

_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?")
_TERM_RE = re.compile(r"(\d{1,3})\s*(?:months?)?", re.IGNORECASE)
_EMP_RE = re.compile(r"(<\s*)?(\d{1,2})\s*(\+)?\s*(?:years?|yrs?)?", re.IGNORECASE)
_MONTHS = {
    name: i
    for i, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_MON_YEAR_RE = re.compile(r"([A-Za-z]{3})-(\d{2}|\d{4})")
_ISO_MONTH_RE = re.compile(r"(\d{4})-(\d{1,2})(?:-(\d{1,2}))?")


def _raw(event: Mapping[str, Any], name: str) -> Any:
    """The value of ``name``: stripped text, a number, or None for blanks; else ScoringError."""
    try:
        value = event.get(name)
    except Exception as exc:  # a hostile Mapping
        raise ScoringError(name, None, f"cannot read field ({type(exc).__name__})") from None
    if value is None:
        return None
    if isinstance(value, bool):
        raise ScoringError(name, value, f"expected text or a number, got {_show(value)}")
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, int | float):
        return value
    raise ScoringError(
        name, value, f"expected text or a number, got {type(value).__name__} {_show(value)}"
    )


def _to_float(name: str, value: Any, what: str, percent: bool = False) -> float:
    """Parse a (possibly ``%``-suffixed) number; fail fast on long or odd strings."""
    if isinstance(value, int):
        if abs(value) > 10**15:
            raise ScoringError(name, value, f"{_show(value)} is out of range")
        return float(value)
    if isinstance(value, float):
        number = value
    else:
        text = value
        if len(text) > MAX_NUMERIC_CHARS:
            raise ScoringError(name, value, f"cannot parse {_show(value)} as {what}: too long")
        if percent and text.endswith("%"):
            text = text[:-1].rstrip()
        if not _NUMBER_RE.fullmatch(text):
            raise ScoringError(name, value, f"cannot parse {_show(value)} as {what}")
        number = float(text)
    if not math.isfinite(number):
        raise ScoringError(name, value, f"{_show(value)} is not a finite number")
    return number


def _bounded(name: str, value: Any, number: float, low: float, high: float) -> float:
    if not low <= number <= high:
        raise ScoringError(name, value, f"{_show(value)} is outside [{low:g}, {high:g}]")
    return number


def _opt_float(
    event: Mapping[str, Any], name: str, low: float, high: float, percent: bool = False
) -> float | None:
    value = _raw(event, name)
    if value is None:
        return None
    what = "a percentage" if percent else "a number"
    return _bounded(name, value, _to_float(name, value, what, percent), low, high)


def _opt_count(event: Mapping[str, Any], name: str, high: int = 1000) -> int | None:
    """A non-negative whole number; LendingClub writes counts as "1.0"."""
    value = _raw(event, name)
    if value is None:
        return None
    number = _bounded(name, value, _to_float(name, value, "a count"), 0, high)
    if not number.is_integer():
        raise ScoringError(name, value, f"{_show(value)} is not a whole number")
    return int(number)


def _loan_id(event: Mapping[str, Any]) -> str:
    value = _raw(event, "id")
    if value is None:
        raise ScoringError("id", event.get("id"), "loan id is required")
    if isinstance(value, float):
        raise ScoringError("id", value, f"loan id must be text or an integer, got {_show(value)}")
    text = str(value)
    if len(text) > MAX_TEXT_CHARS or not text.isprintable():
        raise ScoringError("id", value, f"{_show(value)} is not a valid loan id")
    return text


def _term(event: Mapping[str, Any]) -> int:
    value = _raw(event, "term")
    if value is None:
        raise ScoringError("term", event.get("term"), "term is required")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        months = value
    else:
        match = _TERM_RE.fullmatch(value) if isinstance(value, str) and len(value) <= 32 else None
        if match is None:
            raise ScoringError("term", value, f"cannot parse {_show(value)} as a term in months")
        months = int(match.group(1))
    if months not in (36, 60):
        raise ScoringError("term", value, f"term {_show(value)} is not 36 or 60 months")
    return months


def _emp_length(event: Mapping[str, Any]) -> int | None:
    value = _raw(event, "emp_length")
    if value is None:
        return None
    if isinstance(value, str):
        if value.lower() in ("n/a", "na", "none"):
            return None
        match = _EMP_RE.fullmatch(value) if len(value) <= 32 else None
        if match is None:
            raise ScoringError(
                "emp_length", value, f"cannot parse {_show(value)} as an employment length"
            )
        years = 0 if match.group(1) else int(match.group(2))
    else:
        number = _to_float("emp_length", value, "an employment length")
        if not number.is_integer() or not 0 <= number <= 99:
            raise ScoringError(
                "emp_length", value, f"{_show(value)} is not an employment length in years"
            )
        years = int(number)
    return min(years, 10)


def _event_time(event: Mapping[str, Any]) -> datetime:
    value = _raw(event, "event_time")
    if not isinstance(value, str):
        reason = "event_time is required" if value is None else "event_time must be ISO-8601 text"
        raise ScoringError("event_time", value, reason)
    if len(value) > MAX_TEXT_CHARS:
        raise ScoringError("event_time", value, f"{_show(value)} is too long for a timestamp")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ScoringError(
            "event_time", value, f"cannot parse {_show(value)} as an ISO-8601 timestamp"
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ScoringError("event_time", value, f"{_show(value)} has no time zone")
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ScoringError("event_time", value, f"{_show(value)} is out of range") from None


def _year_month(value: str, event_year: int) -> tuple[int, int] | None:
    """(year, month) from "Apr-1997", "Apr-97", "1997-04" or "1997-04-01"; None if none fit."""
    match = _MON_YEAR_RE.fullmatch(value)
    if match:
        month = _MONTHS.get(match.group(1).lower())
        if month is None:
            return None
        year = int(match.group(2))
        if len(match.group(2)) == 2:
            year += 2000 if 2000 + year <= event_year else 1900
        return year, month
    match = _ISO_MONTH_RE.fullmatch(value)
    if match:
        year, month = int(match.group(1)), int(match.group(2))
        if match.group(3) is not None and not 1 <= int(match.group(3)) <= 31:
            return None
        return (year, month) if 1 <= month <= 12 else None
    return None


def _credit_history(event: Mapping[str, Any], at: datetime) -> int | None:
    value = _raw(event, "earliest_cr_line")
    if value is None:
        return None
    parsed = _year_month(value, at.year) if isinstance(value, str) and len(value) <= 32 else None
    if parsed is None:
        raise ScoringError(
            "earliest_cr_line", value, f"cannot parse {_show(value)} as a month like 'Apr-1997'"
        )
    year, month = parsed
    months = (at.year - year) * 12 + (at.month - month)
    if year < 1900 or months < 0:
        raise ScoringError(
            "earliest_cr_line", value, f"{_show(value)} is not a credit line before event_time"
        )
    return months


def _fico(event: Mapping[str, Any]) -> float | None:
    low = _opt_float(event, "fico_range_low", 300, 850)
    high = _opt_float(event, "fico_range_high", 300, 850)
    if low is not None and high is not None:
        if low > high:
            raise ScoringError(
                "fico_range_low", event.get("fico_range_low"), "fico_range_low > fico_range_high"
            )
        return (low + high) / 2
    return low if low is not None else high


def _category(event: Mapping[str, Any], name: str, upper: bool) -> str | None:
    value = _raw(event, name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ScoringError(name, value, f"expected text, got {_show(value)}")
    if len(value) > MAX_TEXT_CHARS or not value.isprintable():
        raise ScoringError(name, value, f"{_show(value)} is not a valid {name}")
    return value.upper() if upper else value.lower()


def _loan_amnt(event: Mapping[str, Any]) -> float:
    value = _raw(event, "loan_amnt")
    if value is None:
        raise ScoringError("loan_amnt", event.get("loan_amnt"), "loan_amnt is required")
    loan_amnt = _to_float("loan_amnt", value, "an amount")
    if not 0 < loan_amnt <= 1e9:
        raise ScoringError("loan_amnt", value, f"{_show(value)} is not > 0")
    return loan_amnt


# --- fast path ------------------------------------------------------------------------------
# ``preprocess_event`` on a plain dict (what ``orjson.loads`` gives the sink) takes shortcuts
# for the common forms and falls back, field by field and in the same order, to the checked
# helpers above whenever a value is anything else; the helpers raise every ScoringError, so
# errors and results are those of ``_preprocess_generic`` (tests/unit/test_scoring_fastpath.py).

_MISS = object()
_MEMO_LIMIT = 4096
_new = object.__new__
_fromisoformat = datetime.fromisoformat

# raw text -> parsed value, for fields with few distinct values; only successes are stored
_TERM_MEMO: dict[str, int] = {}
_EMP_MEMO: dict[str, int | None] = {}
_FICO_MEMO: dict[str, float | None] = {}
_COUNT_MEMO: dict[str, int | None] = {}
_HOME_MEMO: dict[str, str | None] = {}
_PURPOSE_MEMO: dict[str, str | None] = {}
_CREDIT_MEMO: dict[tuple[str, int, int], int | None] = {}


def _remember(memo: dict, key: Any, result: Any) -> Any:
    if len(memo) >= _MEMO_LIMIT:  # bounded: odd input cannot grow it without limit
        memo.clear()
    memo[key] = result
    return result


def _plain_float(value: Any) -> float | None:
    """``float(value)`` for plain decimal text ("6000.0", "-1.5"), else None (caller falls back).

    For ASCII text without "_", "e" or "E", ``float`` accepts exactly what ``_NUMBER_RE``
    does, plus surrounding whitespace (which ``_raw`` strips anyway) and nan/inf (which the
    callers' range checks reject).
    """
    if (
        type(value) is str
        and len(value) <= MAX_NUMERIC_CHARS
        and value.isascii()
        and "_" not in value
        and "e" not in value
        and "E" not in value
    ):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def preprocess_event(event: Mapping[str, Any]) -> Features:
    """Parse and normalise one raw event (CSV column -> raw text) into :class:`Features`."""
    if type(event) is not dict:
        return _preprocess_generic(event)
    get = event.get

    value = get("id")
    loan_id = value.strip() if type(value) is str else None
    if not loan_id or len(loan_id) > MAX_TEXT_CHARS or not loan_id.isprintable():
        loan_id = _loan_id(event)

    value = get("event_time")
    event_time = None
    if type(value) is str and len(value) <= MAX_TEXT_CHARS:
        try:
            event_time = _fromisoformat(value)
        except ValueError:
            pass
        else:  # already UTC: astimezone(UTC) would return it unchanged
            if event_time.tzinfo is not UTC:
                event_time = None
    if event_time is None:
        event_time = _event_time(event)

    loan_amnt = _plain_float(get("loan_amnt"))
    if loan_amnt is None or not 0 < loan_amnt <= 1e9:
        loan_amnt = _loan_amnt(event)

    value = get("term")
    term = _TERM_MEMO.get(value, _MISS) if type(value) is str else _MISS
    if term is _MISS:
        term = _term(event)
        if type(value) is str:
            _remember(_TERM_MEMO, value, term)

    int_rate = _plain_float(get("int_rate"))
    if int_rate is None or not 0 <= int_rate <= 100:
        int_rate = _opt_float(event, "int_rate", 0, 100, percent=True)
    annual_inc = _plain_float(get("annual_inc"))
    if annual_inc is None or not 0 <= annual_inc <= 1e12:
        annual_inc = _opt_float(event, "annual_inc", 0, 1e12)
    dti = _plain_float(get("dti"))
    if dti is None or not 0 <= dti <= 10_000:
        dti = _opt_float(event, "dti", 0, 10_000)
    revol_util = _plain_float(get("revol_util"))
    if revol_util is None or not 0 <= revol_util <= 10_000:
        revol_util = _opt_float(event, "revol_util", 0, 10_000, percent=True)

    value = get("emp_length")
    emp_length = _EMP_MEMO.get(value, _MISS) if type(value) is str else _MISS
    if emp_length is _MISS:
        emp_length = _emp_length(event)
        if type(value) is str:
            _remember(_EMP_MEMO, value, emp_length)

    value = get("earliest_cr_line")
    if type(value) is str:
        key = (value, event_time.year, event_time.month)
        credit = _CREDIT_MEMO.get(key, _MISS)
        if credit is _MISS:
            credit = _remember(_CREDIT_MEMO, key, _credit_history(event, event_time))
    else:
        credit = _credit_history(event, event_time)

    value = get("fico_range_low")
    low = _FICO_MEMO.get(value, _MISS) if type(value) is str else _MISS
    if low is _MISS:
        low = _opt_float(event, "fico_range_low", 300, 850)
        if type(value) is str:
            _remember(_FICO_MEMO, value, low)
    value = get("fico_range_high")
    high = _FICO_MEMO.get(value, _MISS) if type(value) is str else _MISS
    if high is _MISS:
        high = _opt_float(event, "fico_range_high", 300, 850)
        if type(value) is str:
            _remember(_FICO_MEMO, value, high)
    if low is not None and high is not None:
        fico = (low + high) / 2 if low <= high else _fico(event)  # _fico raises low > high
    else:
        fico = low if low is not None else high

    counts = []
    for name in ("inq_last_6mths", "delinq_2yrs", "pub_rec"):
        value = get(name)
        count = _COUNT_MEMO.get(value, _MISS) if type(value) is str else _MISS
        if count is _MISS:
            count = _opt_count(event, name)
            if type(value) is str:
                _remember(_COUNT_MEMO, value, count)
        counts.append(count)

    value = get("home_ownership")
    home = _HOME_MEMO.get(value, _MISS) if type(value) is str else _MISS
    if home is _MISS:
        home = _category(event, "home_ownership", upper=True)
        if type(value) is str:
            _remember(_HOME_MEMO, value, home)
    value = get("purpose")
    purpose = _PURPOSE_MEMO.get(value, _MISS) if type(value) is str else _MISS
    if purpose is _MISS:
        purpose = _category(event, "purpose", upper=False)
        if type(value) is str:
            _remember(_PURPOSE_MEMO, value, purpose)

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
        inq_last_6mths=counts[0],
        delinq_2yrs=counts[1],
        pub_rec=counts[2],
        home_ownership=home,
        purpose=purpose,
        event_time=event_time,
    )
    return features


def _preprocess_generic(event: Mapping[str, Any]) -> Features:
    """:func:`preprocess_event` for any Mapping, field by field through the checked helpers."""
    if not isinstance(event, Mapping):
        raise ScoringError("event", event, f"expected a JSON object, got {type(event).__name__}")
    loan_id = _loan_id(event)
    event_time = _event_time(event)
    return Features(
        loan_id=loan_id,
        loan_amnt=_loan_amnt(event),
        term_months=_term(event),
        int_rate=_opt_float(event, "int_rate", 0, 100, percent=True),
        annual_inc=_opt_float(event, "annual_inc", 0, 1e12),
        dti=_opt_float(event, "dti", 0, 10_000),
        revol_util=_opt_float(event, "revol_util", 0, 10_000, percent=True),
        emp_length_years=_emp_length(event),
        credit_history_months=_credit_history(event, event_time),
        fico=_fico(event),
        inq_last_6mths=_opt_count(event, "inq_last_6mths"),
        delinq_2yrs=_opt_count(event, "delinq_2yrs"),
        pub_rec=_opt_count(event, "pub_rec"),
        home_ownership=_category(event, "home_ownership", upper=True),
        purpose=_category(event, "purpose", upper=False),
        event_time=event_time,
    )


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------

OPERATORS = ("<", "<=", ">", ">=", "==", "in", "between", "missing")


@dataclass(frozen=True)
class Rule:
    """One reason code: ``points`` are added when ``field op value`` holds.

    Comparisons on a missing (None) value never hold, except ``missing``. ``between`` is
    half-open: ``low <= x < high``.
    """

    code: str
    description: str
    field: str
    op: str
    value: Any
    points: int

    def matches(self, features: Features) -> bool:
        actual = getattr(features, self.field)
        if self.op == "missing":
            return (actual is None) is bool(self.value)
        if actual is None:
            return False
        if self.op == "in":
            return actual in self.value
        if self.op == "between":
            return self.value[0] <= actual < self.value[1]
        if self.op == "==":
            return actual == self.value
        if self.op == "<":
            return actual < self.value
        if self.op == "<=":
            return actual <= self.value
        if self.op == ">":
            return actual > self.value
        return actual >= self.value  # ">="

    def condition(self) -> str:
        """The condition as readable text, e.g. ``int_rate between [10, 13)``."""
        if self.op == "missing":
            return f"{self.field} is {'missing' if self.value else 'present'}"
        if self.op == "between":
            return f"{self.value[0]:g} ≤ {self.field} < {self.value[1]:g}"
        if self.op == "in":
            return f"{self.field} in {', '.join(str(v) for v in self.value)}"
        value = f"{self.value:g}" if isinstance(self.value, float) else str(self.value)
        return f"{self.field} {self.op} {value}"


@dataclass(frozen=True)
class RuleSet:
    """A versioned rule set: rules, score bands and decision thresholds."""

    version: str
    rules: tuple[Rule, ...]
    bands: tuple[tuple[str, int], ...]  # (band, lowest score in the band), ascending
    review_at: int
    decline_at: int
    source: str = ""

    def band(self, score: int) -> str:
        name = self.bands[0][0]
        for band, low in self.bands:
            if score >= low:
                name = band
        return name

    def decision(self, score: int) -> str:
        if score >= self.decline_at:
            return "decline"
        if score >= self.review_at:
            return "review"
        return "approve"

    def score_table(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The band and the decision of each score 0..100: the tables compiled scorers index."""
        scores = range(101)
        return tuple(map(self.band, scores)), tuple(map(self.decision, scores))

    def uncompilable(self) -> str | None:
        """Why this rule set must be scored rule by rule (``_apply_rules_generic``), or None.

        Rule sets from :func:`load_rules` / :func:`parse_rules` are validated and never are;
        one built by hand may hold an unknown field or operator, or non-integer points.
        """
        for rule in self.rules:
            if rule.field not in RULE_FIELDS or rule.op not in OPERATORS:
                return f"rule {rule.code}: {rule.field} {rule.op}"
            if type(rule.points) is not int:
                return f"rule {rule.code}: points {rule.points!r} are not an integer"
            if rule.op == "between" and not (type(rule.value) is tuple and len(rule.value) == 2):
                return f"rule {rule.code}: between needs a (low, high) pair"
        return None

    @functools.cached_property
    def _evaluate(self) -> Callable[[Features], Score]:
        """This rule set compiled once into one function (see :func:`_compile_rules`)."""
        return _compile_rules(self)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_evaluate", None)  # a generated function: compiled again when needed
        return state


@dataclass(frozen=True)
class Score:
    """The outcome of :func:`apply_rules`."""

    risk_score: int
    risk_band: str
    decision: str
    reasons: list[str] = field(default_factory=list)
    rules_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_rules_path() -> Path:
    """``$LOANSTREAM_HOME/include/rules/risk_rules.yaml``."""
    from loanstream.config import Settings

    return Settings.from_env().home / "include" / "rules" / "risk_rules.yaml"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _parse_rule(index: int, raw: Any, seen: set[str]) -> Rule:
    where = f"rule #{index + 1}"
    if not isinstance(raw, Mapping):
        raise RulesError(f"{where}: expected a mapping, got {type(raw).__name__}")
    code = raw.get("code")
    if not isinstance(code, str) or not re.fullmatch(r"[A-Z][A-Z0-9_]{1,63}", code):
        raise RulesError(f"{where}: 'code' must be UPPER_SNAKE_CASE text, got {code!r}")
    where = f"rule {code} (#{index + 1})"
    if code in seen:
        raise RulesError(f"{where}: duplicate code")
    seen.add(code)
    unknown = set(raw) - {"code", "description", "when", "points"}
    if unknown:
        raise RulesError(f"{where}: unknown keys {sorted(unknown)}")
    description = raw.get("description")
    if not isinstance(description, str) or not description.strip():
        raise RulesError(f"{where}: 'description' is required")
    points = raw.get("points")
    if not isinstance(points, int) or isinstance(points, bool) or not -100 <= points <= 100:
        raise RulesError(f"{where}: 'points' must be an integer in [-100, 100], got {points!r}")
    when = raw.get("when")
    if not isinstance(when, Mapping) or set(when) != {"field", "op", "value"}:
        raise RulesError(f"{where}: 'when' must be a mapping with exactly field, op and value")
    name, op, value = when["field"], when["op"], when["value"]
    if name not in RULE_FIELDS:
        raise RulesError(f"{where}: unknown field {name!r}; choose from {', '.join(RULE_FIELDS)}")
    if op not in OPERATORS:
        raise RulesError(f"{where}: unknown operator {op!r}; choose from {', '.join(OPERATORS)}")
    text_field = name in ("home_ownership", "purpose")
    if op == "missing":
        if not isinstance(value, bool):
            raise RulesError(f"{where}: 'missing' takes true or false, got {value!r}")
    elif op == "in":
        if not isinstance(value, list) or not value:
            raise RulesError(f"{where}: 'in' takes a non-empty list, got {value!r}")
        if not all((isinstance(v, str) if text_field else _is_number(v)) for v in value):
            raise RulesError(
                f"{where}: 'in' values must all be {'text' if text_field else 'numbers'}"
            )
        value = tuple(value)
    elif text_field:
        if op != "==" or not isinstance(value, str):
            raise RulesError(f"{where}: text field {name!r} takes '==' text, 'in' or 'missing'")
    elif op == "between":
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(_is_number(v) for v in value)
            or value[0] >= value[1]
        ):
            raise RulesError(f"{where}: 'between' takes [low, high] numbers with low < high")
        value = (value[0], value[1])
    elif not _is_number(value):
        raise RulesError(f"{where}: {op!r} takes a number, got {value!r}")
    return Rule(code, description.strip(), name, op, value, points)


def _parse_ruleset(data: Any, source: str) -> RuleSet:
    if not isinstance(data, Mapping):
        raise RulesError(f"{source}: expected a mapping at the top level")
    version = data.get("version")
    if not isinstance(version, str) or not version.strip():
        raise RulesError(f"{source}: 'version' must be non-empty text, got {version!r}")
    raw_bands = data.get("bands")
    if not isinstance(raw_bands, list) or not raw_bands:
        raise RulesError(f"{source}: 'bands' must be a non-empty list of {{band, min_score}}")
    bands: list[tuple[str, int]] = []
    for item in raw_bands:
        if (
            not isinstance(item, Mapping)
            or not isinstance(item.get("band"), str)
            or not isinstance(item.get("min_score"), int)
            or isinstance(item.get("min_score"), bool)
        ):
            raise RulesError(f"{source}: band {item!r} needs 'band' text and 'min_score' integer")
        bands.append((item["band"], item["min_score"]))
    lows = [low for _, low in bands]
    if lows[0] != 0 or lows != sorted(set(lows)) or lows[-1] > 100:
        raise RulesError(f"{source}: band min_score must start at 0 and rise strictly to <= 100")
    decisions = data.get("decisions")
    if not isinstance(decisions, Mapping):
        raise RulesError(f"{source}: 'decisions' must map review_at and decline_at to scores")
    review_at, decline_at = decisions.get("review_at"), decisions.get("decline_at")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (review_at, decline_at)):
        raise RulesError(f"{source}: decisions review_at and decline_at must be integers")
    if not 0 < review_at <= decline_at <= 100:
        raise RulesError(f"{source}: decisions need 0 < review_at <= decline_at <= 100")
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RulesError(f"{source}: 'rules' must be a non-empty list")
    seen: set[str] = set()
    rules = tuple(_parse_rule(i, raw, seen) for i, raw in enumerate(raw_rules))
    return RuleSet(version.strip(), rules, tuple(bands), review_at, decline_at, source)


def parse_rules(text: str, source: str = "<rules>") -> RuleSet:
    """Validate and build a :class:`RuleSet` from YAML text."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesError(f"{source}: not valid YAML: {exc}") from None
    return _parse_ruleset(data, source)


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int) -> RuleSet:
    return parse_rules(Path(path).read_text(encoding="utf-8"), source=path)


def load_rules(path: str | Path | None = None) -> RuleSet:
    """Load and validate a rules file (default: :func:`default_rules_path`); cached per file."""
    resolved = Path(path) if path is not None else default_rules_path()
    try:
        mtime_ns = resolved.stat().st_mtime_ns
    except OSError as exc:
        raise RulesError(f"{resolved}: cannot read rules file: {exc.strerror}") from None
    return _load_cached(str(resolved), mtime_ns)


def apply_rules(features: Features, rules: RuleSet | None = None) -> Score:
    """Score ``features``: the clamped sum of the points of every rule that holds."""
    if not isinstance(features, Features):
        raise ScoringError("features", features, "expected a Features instance")
    ruleset = rules if rules is not None else load_rules()
    if isinstance(ruleset, RuleSet):
        return ruleset._evaluate(features)
    return _apply_rules_generic(features, ruleset)


def _apply_rules_generic(features: Features, ruleset: RuleSet) -> Score:
    """Rule by rule with :meth:`Rule.matches`: the definition the compiled form follows."""
    fired = [rule for rule in ruleset.rules if rule.matches(features)]
    total = max(0, min(100, sum(rule.points for rule in fired)))
    fired.sort(key=lambda rule: -rule.points)  # stable: file order among equal points
    return Score(
        risk_score=total,
        risk_band=ruleset.band(total),
        decision=ruleset.decision(total),
        reasons=[rule.code for rule in fired],
        rules_version=ruleset.version,
    )


_COMPARISONS = {"==": "==", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def _compile_rules(ruleset: RuleSet) -> Callable[[Features], Score]:
    """Generate one Python function evaluating every rule of ``ruleset`` (the YAML stays the
    single source of truth; this is derived from it when the rule set is first used).

    Each rule becomes ``h<i> = <value is not None and condition>`` on a local read once per
    field, in file order, with the rule's exact expression from :meth:`Rule.matches` (rule
    values are passed in as objects, never as source text). Reasons are appended in the order
    ``_apply_rules_generic`` sorts them (points descending, stable); band and decision come
    from tables built with :meth:`RuleSet.band` / :meth:`RuleSet.decision` for 0..100.
    Rule sets that did not come through validation and hold anything unusual
    (:meth:`RuleSet.uncompilable`) use ``_apply_rules_generic``.
    """
    rules = ruleset.rules
    if ruleset.uncompilable() is not None:
        return functools.partial(_apply_rules_generic, ruleset=ruleset)
    bands, decisions = ruleset.score_table()
    ns: dict[str, Any] = {
        "_new": object.__new__,
        "_Score": Score,
        "_bands": bands,
        "_decisions": decisions,
        "_version": ruleset.version,
    }
    lines = ["def _evaluate(f):"]
    for name in dict.fromkeys(rule.field for rule in rules):
        lines.append(f"    v_{name} = f.{name}")
    for i, rule in enumerate(rules):
        v = f"v_{rule.field}"
        ns[f"c{i}"] = rule.value
        if rule.op == "missing":
            test = f"{v} is None" if bool(rule.value) else f"{v} is not None"
        elif rule.op == "in":
            test = f"{v} is not None and {v} in c{i}"
        elif rule.op == "between":
            ns[f"lo{i}"], ns[f"hi{i}"] = rule.value[0], rule.value[1]
            test = f"{v} is not None and lo{i} <= {v} < hi{i}"
        else:
            test = f"{v} is not None and {v} {_COMPARISONS[rule.op]} c{i}"
        lines.append(f"    h{i} = {test}")
    lines.append("    total = 0")
    for i, rule in enumerate(rules):
        ns[f"p{i}"] = rule.points
        lines.append(f"    if h{i}: total += p{i}")
    lines += ["    total = 0 if total < 0 else 100 if total > 100 else total", "    reasons = []"]
    ranked = sorted(range(len(rules)), key=lambda i: -rules[i].points)  # stable, as generic
    for i in ranked:
        ns[f"code{i}"] = rules[i].code
        lines.append(f"    if h{i}: reasons.append(code{i})")
    lines += [
        "    score = _new(_Score)",  # frozen: fill the instance dict, as for Features
        "    score.__dict__.update(risk_score=total, risk_band=_bands[total],",
        "        decision=_decisions[total], reasons=reasons, rules_version=_version)",
        "    return score",
    ]
    exec(compile("\n".join(lines), f"<rules {ruleset.version}>", "exec"), ns)  # noqa: S102
    return ns["_evaluate"]


def score_event(event: Mapping[str, Any], rules: RuleSet | None = None) -> tuple[Features, Score]:
    """``preprocess_event`` then ``apply_rules``."""
    features = preprocess_event(event)
    return features, apply_rules(features, rules)


def rules_markdown_table(rules: RuleSet | None = None) -> str:
    """The rule set as a Markdown table (code, condition, points, description)."""
    ruleset = rules if rules is not None else load_rules()
    lines = [
        f"Rules version `{ruleset.version}`.",
        "",
        "| code | condition | points | description |",
        "|------|-----------|-------:|-------------|",
    ]
    for rule in ruleset.rules:
        lines.append(
            f"| `{rule.code}` | `{rule.condition()}` | {rule.points:+d} | {rule.description} |"
        )
    lines += ["", "| band | scores |", "|------|--------|"]
    for i, (band, low) in enumerate(ruleset.bands):
        high = ruleset.bands[i + 1][1] - 1 if i + 1 < len(ruleset.bands) else 100
        lines.append(f"| {band} | {low}–{high} |")
    lines += [
        "",
        f"Decision: `approve` below {ruleset.review_at}, `review` from {ruleset.review_at}, "
        f"`decline` from {ruleset.decline_at}.",
    ]
    return "\n".join(lines)
