"""The native batch scorer's loader: a :class:`~loanstream.scoring.RuleSet` and the limits in
force handed to the compiled ``BatchScorer`` (see :mod:`loanstream.native` for the contract),
or the reason the sink scores in Python."""

from __future__ import annotations

from typing import Any

import orjson

from loanstream.native import MODES, NativeScoringUnavailable, import_compiled
from loanstream.scoring import limits
from loanstream.scoring.rules import RuleSet


def rule_specs(rules: RuleSet) -> list[tuple[str, str, Any, int, str]]:
    """The rule set as the native scorer takes it: (field, op, value, points, code as JSON)."""
    return [
        (rule.field, rule.op, rule.value, rule.points, orjson.dumps(rule.code).decode())
        for rule in rules.rules
    ]


def _supported(rules: RuleSet) -> str | None:
    """Why ``rules`` must be scored in Python, or None. (The scorer refuses the rest.)"""
    if not isinstance(rules, RuleSet):
        return f"rules are a {type(rules).__name__}, not a RuleSet"
    return rules.uncompilable()


def load_batch_scorer(
    rules: RuleSet, mode: str = "auto", *, as_of_columns: bool = True
) -> tuple[Any | None, str]:
    """(a native ``BatchScorer`` for ``rules`` or None, a few words on which and why).

    ``as_of_columns``: the sink's rows hold ``features_as_of`` and ``features_as_of_basis``
    right after ``purpose`` (``loanstream.sink.rows``), and so do the native rows; False
    leaves them out (rows of the shape before they were stored).
    """
    if mode not in MODES:
        raise ValueError(f"LOANSTREAM_NATIVE_SCORING must be one of {MODES}, got {mode!r}")
    if mode == "off":
        return None, "Python (LOANSTREAM_NATIVE_SCORING=off)"
    try:
        compiled = import_compiled()
    except ImportError as exc:
        why = f"the native scorer is not built ({exc}); `make setup` builds it with cargo"
        if mode == "on":
            raise NativeScoringUnavailable(why) from None
        return None, f"Python ({why})"
    reason = _supported(rules)
    if reason is None:
        bands, decisions = rules.score_table()
        try:
            scorer = compiled.BatchScorer(
                rule_specs(rules),
                list(bands),
                list(decisions),
                rules.version,
                limits.current().native_spec(),
                as_of_columns,
            )
        except (ValueError, TypeError) as exc:
            reason = str(exc)
        else:
            return scorer, "native (Rust) for plain events, Python for the rest"
    why = f"rule set {rules.version} has what the native scorer does not model: {reason}"
    if mode == "on":
        raise NativeScoringUnavailable(why)
    return None, f"Python ({why})"
