"""A rule set as the Markdown table docs/SCORING.md shows (``loanstream evaluate --rules-table``)."""

from __future__ import annotations

from loanstream.scoring.rules import RuleSet, load_rules

__all__ = ["rules_markdown_table"]


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
