"""Turn one loan-application event into features and a rule-based risk score.
May import: nothing (only the top-level modules).

The package, by job:

- :mod:`~loanstream.scoring.forms`: the forms LendingClub writes values in (numbers, terms,
  employment lengths, months), read without bounds (the contract types rows with them);
- :mod:`~loanstream.scoring.limits`: every bound, cap and table parsing uses (also handed to
  the native scorer);
- :mod:`~loanstream.scoring.features`: ``preprocess_event``, event -> :class:`Features` (the
  reference parser);
- :mod:`~loanstream.scoring.rules`: the rules model (:class:`RuleSet`, :class:`Rule`,
  :class:`Score`), its loader (``load_rules``, ``parse_rules``) and ``score_rule_by_rule``,
  the definition of scoring;
- :mod:`~loanstream.scoring.compiled`: ``apply_rules`` with each rule set compiled into one
  function (kept beside the rule set, which stays data), and ``score_event``;
- :mod:`~loanstream.scoring.native`: the compiled batch scorer built for a rule set (or why not);
- :mod:`~loanstream.evaluation.offline`: the rules measured offline on a CSV with outcomes (it
  reads the file as the producer does, hence ``produce``);
- :mod:`~loanstream.scoring.table`: the rule set as a Markdown table;
- :mod:`~loanstream.scoring.errors`: :class:`ScoringError` (bad event), :class:`RulesError`
  (bad rules file).

Everything other modules use is importable from ``loanstream.scoring``."""

from __future__ import annotations

from loanstream.scoring.compiled import apply_rules, compile_rules, score_event
from loanstream.scoring.errors import RulesError, ScoringError
from loanstream.scoring.features import (
    AS_OF_BASES,
    AS_OF_FIELDS,
    FEATURE_FIELDS,
    RULE_FIELDS,
    Features,
    features_as_of,
    preprocess_event,
)
from loanstream.scoring.limits import LIMITS, Limits
from loanstream.scoring.rules import (
    DECISIONS,
    MAX_SCORE,
    OPERATORS,
    Rule,
    RuleSet,
    Score,
    default_rules_path,
    load_rules,
    parse_rules,
    score_rule_by_rule,
)
from loanstream.scoring.table import rules_markdown_table

__all__ = [
    "AS_OF_BASES",
    "AS_OF_FIELDS",
    "DECISIONS",
    "FEATURE_FIELDS",
    "LIMITS",
    "MAX_SCORE",
    "OPERATORS",
    "RULE_FIELDS",
    "Features",
    "Limits",
    "Rule",
    "RuleSet",
    "RulesError",
    "Score",
    "ScoringError",
    "apply_rules",
    "compile_rules",
    "default_rules_path",
    "features_as_of",
    "load_rules",
    "parse_rules",
    "preprocess_event",
    "rules_markdown_table",
    "score_event",
    "score_rule_by_rule",
]
