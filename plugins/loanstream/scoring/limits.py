"""Every bound, cap and table feature parsing uses, defined once.

:func:`loanstream.scoring.features.preprocess_event` reads :data:`LIMITS` when it parses an
event, and :func:`loanstream.scoring.native.load_batch_scorer` hands the same values to the native
scorer (:meth:`Limits.native_spec`), so a bound changed here changes both (checked by
``tests/unit/test_native_scorer.py::test_native_scorer_follows_python_limits``). The grammar of
each field (which characters make "10+ years" or "Apr-1997") is code, described in
docs/SCORING.md; everything numeric about it is here.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["LIMITS", "Limits", "current", "override"]

_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


@dataclass(frozen=True)
class Limits:
    """The plausible range of each parsed feature and the caps on raw text.

    Ranges are closed ``(low, high)`` intervals a value must fall in, else the event is an
    error naming the field; they keep every value inside its ``risk_scored`` column.
    """

    # raw text: longer numeric text is refused before parsing; ids and categories are capped
    max_numeric_chars: int = 64
    max_text_chars: int = 64
    max_short_chars: int = 32  # term, emp_length, earliest_cr_line, issue_d
    # JSON integers beyond this are refused (floats beyond are out of every range anyway)
    max_abs_int: int = 10**15
    loan_amnt: tuple[float, float] = (0.0, 1e9)  # low exclusive: a loan is > 0
    int_rate: tuple[float, float] = (0.0, 100.0)
    annual_inc: tuple[float, float] = (0.0, 1e12)
    dti: tuple[float, float] = (0.0, 10_000.0)
    revol_util: tuple[float, float] = (0.0, 10_000.0)  # LendingClub writes > 100 %
    fico: tuple[float, float] = (300.0, 850.0)  # fico_range_low and fico_range_high
    count: tuple[float, float] = (0.0, 1000.0)  # inq_last_6mths, delinq_2yrs, pub_rec
    term_months: tuple[int, ...] = (36, 60)
    emp_length_cap: int = 10  # LendingClub's "10+ years"
    emp_length_max: int = 99  # a numeric emp_length above this is not a length in years
    emp_length_blanks: tuple[str, ...] = ("n/a", "na", "none")  # compared ignoring case
    min_year: int = 1900  # an earliest_cr_line or issue_d before this year is an error
    month_names: tuple[str, ...] = _MONTH_NAMES  # "Apr-1997": compared ignoring case

    def native_spec(self) -> dict[str, Any]:
        """These values as the native scorer's constructor takes them (plain Python values)."""
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
            for f in dataclasses.fields(self)
        }


LIMITS = Limits()
_on_change: list[Any] = []  # caches derived from the limits (cleared when they change)


def current() -> Limits:
    """The limits in force (:data:`LIMITS` unless :func:`override` replaced them)."""
    return LIMITS


def on_change(clear: Any) -> Any:
    """Register ``clear()`` to be called when the limits change (a memo built from them)."""
    _on_change.append(clear)
    return clear


@contextlib.contextmanager
def override(**changes: Any) -> Iterator[Limits]:
    """Parse with some limits changed (tests, what-if studies); restored on exit."""
    global LIMITS
    before = LIMITS
    LIMITS = dataclasses.replace(before, **changes)
    try:
        for clear in _on_change:
            clear()
        yield LIMITS
    finally:
        LIMITS = before
        for clear in _on_change:
            clear()
