"""The two ways scoring fails: a bad event (:class:`ScoringError`), a bad rules file
(:class:`RulesError`)."""

from __future__ import annotations

from typing import Any

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


def show(value: Any) -> str:
    """A short repr of ``value`` for error messages (never the whole 1 MB string)."""
    if isinstance(value, str) and len(value) > _VALUE_REPR_CHARS:
        return repr(value[:_VALUE_REPR_CHARS]) + f"... ({len(value)} chars)"
    text = repr(value)
    if len(text) > _VALUE_REPR_CHARS + 10:
        return text[:_VALUE_REPR_CHARS] + f"... ({type(value).__name__})"
    return text
