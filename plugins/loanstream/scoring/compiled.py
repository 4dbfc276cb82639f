"""The compiled evaluator: a rule set turned into one generated Python function, and
:func:`apply_rules` / :func:`score_event`, which use it.

The YAML stays the single source of truth; the function is derived from a :class:`RuleSet`
when it is first used and gives exactly what :func:`score_rule_by_rule` gives
(tests/unit/test_scoring_compiled.py).
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from loanstream.scoring.errors import ScoringError
from loanstream.scoring.features import Features, preprocess_event
from loanstream.scoring.rules import RuleSet, Score, load_rules, score_rule_by_rule

__all__ = ["apply_rules", "compile_rules", "compiled_evaluator", "score_event"]


def apply_rules(features: Features, rules: RuleSet | None = None) -> Score:
    """Score ``features``: the clamped sum of the points of every rule that holds."""
    if not isinstance(features, Features):
        raise ScoringError("features", features, "expected a Features instance")
    ruleset = rules if rules is not None else load_rules()
    if isinstance(ruleset, RuleSet):
        return compiled_evaluator(ruleset)(features)
    return score_rule_by_rule(features, ruleset)


# Each rule set's compiled function, built on first use and dropped with the rule set (a rule
# set stays plain data: it pickles, and it knows nothing of its compiler).
_EVALUATORS: dict[int, Callable[[Features], Score]] = {}


def compiled_evaluator(ruleset: RuleSet) -> Callable[[Features], Score]:
    """``ruleset`` compiled once (:func:`compile_rules`), kept while the rule set lives."""
    key = id(ruleset)
    evaluate = _EVALUATORS.get(key)
    if evaluate is None:
        evaluate = _EVALUATORS[key] = compile_rules(ruleset)
        weakref.finalize(ruleset, _EVALUATORS.pop, key, None)
    return evaluate


_COMPARISONS = {"==": "==", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def compile_rules(ruleset: RuleSet) -> Callable[[Features], Score]:
    """Generate one Python function evaluating every rule of ``ruleset`` (the YAML stays the
    single source of truth; this is derived from it when the rule set is first used).

    Each rule becomes ``h<i> = <value is not None and condition>`` on a local read once per
    field, in file order, with the rule's exact expression from :meth:`Rule.matches` (rule
    values are passed in as objects, never as source text). Reasons are appended in the order
    ``score_rule_by_rule`` sorts them (points descending, stable); band and decision come
    from tables built with :meth:`RuleSet.band` / :meth:`RuleSet.decision` for 0..100.
    Rule sets that did not come through validation and hold anything unusual
    (:meth:`RuleSet.uncompilable`) use ``score_rule_by_rule``.
    """
    rules = ruleset.rules
    if ruleset.uncompilable() is not None:
        return functools.partial(score_rule_by_rule, ruleset=ruleset)
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
