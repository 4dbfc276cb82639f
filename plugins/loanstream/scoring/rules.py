"""The rules model and its loader: a versioned :class:`RuleSet` kept as data in
``include/rules/risk_rules.yaml``, validated by :func:`parse_rules` / :func:`load_rules`, and
:func:`score_rule_by_rule`, the definition of what a rule set gives for some features (the
compiled evaluator in :mod:`loanstream.scoring.compiled` and the native scorer follow it).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from loanstream.scoring.errors import RulesError
from loanstream.scoring.features import RULE_FIELDS, Features

__all__ = [
    "OPERATORS",
    "Rule",
    "RuleSet",
    "Score",
    "default_rules_path",
    "load_rules",
    "parse_rules",
    "score_rule_by_rule",
]

OPERATORS = ("<", "<=", ">", ">=", "==", "in", "between", "missing")
MAX_SCORE = 100  # a risk score is the rules' points clamped to 0..MAX_SCORE
# the decision of a score: below review_at, below decline_at, from decline_at on
DECISIONS = ("approve", "review", "decline")


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
        approve, review, decline = DECISIONS
        if score >= self.decline_at:
            return decline
        if score >= self.review_at:
            return review
        return approve

    def score_table(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The band and the decision of each score 0..100: the tables compiled scorers index."""
        scores = range(MAX_SCORE + 1)
        return tuple(map(self.band, scores)), tuple(map(self.decision, scores))

    def uncompilable(self) -> str | None:
        """Why this rule set must be scored rule by rule (``score_rule_by_rule``), or None.

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


def score_rule_by_rule(features: Features, ruleset: RuleSet) -> Score:
    """Rule by rule with :meth:`Rule.matches`: the definition the compiled form follows."""
    fired = [rule for rule in ruleset.rules if rule.matches(features)]
    total = max(0, min(MAX_SCORE, sum(rule.points for rule in fired)))
    fired.sort(key=lambda rule: -rule.points)  # stable: file order among equal points
    return Score(
        risk_score=total,
        risk_band=ruleset.band(total),
        decision=ruleset.decision(total),
        reasons=[rule.code for rule in fired],
        rules_version=ruleset.version,
    )
