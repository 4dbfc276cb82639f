"""The layouts of LendingClub's accepted-loans files: which loans and non-loan lines, in order.

:func:`plan_export` lays a file of one shape out as :class:`Part` s (runs of loans issued over
a span of months, and non-loan lines), sharing the loans out in the real files' proportions
(``include/profiles/export_sections.json``); :class:`LineFormat` writes each shape's header,
loans and non-loan lines (shapes from :mod:`loanstream.lendingclub.lines`). The generator
(:mod:`loanstream.lendingclub.sample`) fills the parts with synthetic loans.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from loanstream.lendingclub.lines import (
    BANNER_TEXT,
    BLANK,
    MONTHS,
    PERCENT_COLUMNS,
    SECTION,
    SECTION_TEXT,
    TOTAL,
    csv_cell,
    quote_all,
    summary_row,
    total_text,
)

__all__ = ["SHAPES", "ExportPlan", "LineFormat", "Part", "plan_export"]

SECTIONS_FILE = "export_sections.json"

SHAPES: tuple[str, ...] = ("plain", "kaggle", "download")
# columns whose cells the model may pre-quote (csv_cell): unquoted again before quoting all
_PREQUOTED = ("emp_title", "title", "desc")


@dataclass(frozen=True)
class Part:
    """A run of loans issued from month ``last`` back to ``first``, or one non-loan line."""

    loans: int = 0
    first: int = 0  # months since year 0
    last: int = 0
    fails_policy: bool = False
    line: str | None = None  # a lendingclub kind: section, total or blank
    policy_code: int = 0  # of a total


@dataclass(frozen=True)
class ExportPlan:
    """What a file of one shape holds, in file order (``banner`` above the header)."""

    shape: str
    parts: tuple[Part, ...]
    banner: bool = False

    @property
    def loans(self) -> int:
        return sum(part.loans for part in self.parts)

    @property
    def summary_rows(self) -> int:
        """Non-loan records below the header that are not blank (section titles, totals)."""
        return sum(1 for part in self.parts if part.line not in (None, BLANK))

    @property
    def rows(self) -> int:
        return self.loans + self.summary_rows


def _month(text: str) -> int:
    name, year = text.split("-")
    return int(year) * 12 + MONTHS.index(name)


def _share(total: int, weights: list[int]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainder; ties to the first)."""
    whole = sum(weights)
    quotas = [total * w // whole for w in weights]
    rest = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in rest[: total - sum(quotas)]:
        quotas[i] += 1
    return quotas


@functools.cache
def _sections(shape: str) -> list[dict[str, Any]]:
    from loanstream.config import Settings

    path = Settings.from_env().profiles_dir / SECTIONS_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    return data[shape]


def plan_export(shape: str, rows: int) -> ExportPlan:
    """The parts of a ``shape`` file with ``rows`` data rows (loans plus summary rows).

    ``plain``: ``rows`` loans. ``kaggle``: LendingClub's 16 downloads in a row, newest first,
    each sorted by issue month descending and closed by two full-width policy-code totals; the
    2007-2011 one holds a full-width section title before the loans that do not meet the
    credit policy (33 summary rows: ``rows=2_260_701`` is the real file's 2,260,668 loans).
    ``download``: LendingClub's ``LoanStats3a.csv``: banner, loans, section title line, the
    loans that do not meet the policy, a blank line, two totals and a blank line at the end.
    Loans are shared out in the real files' proportions (``include/profiles``).
    """
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {', '.join(SHAPES)}, got {shape!r}")
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    if shape == "plain":
        return ExportPlan(shape, (Part(loans=rows),))
    sections = _sections(shape)
    kaggle = shape == "kaggle"
    summary = sum((2 if kaggle else 0) + len(s["loans"]) - 1 for s in sections) + (
        0 if kaggle else 2
    )
    if rows < summary:
        raise ValueError(f"a {shape} file has {summary} summary rows: rows must be >= {summary}")
    shares = iter(_share(rows - summary, [n for s in sections for n in s["loans"]]))
    parts: list[Part] = []
    for section in sections:
        first, last = (_month(m) for m in section["months"])
        for index, _ in enumerate(section["loans"]):
            if index:
                parts.append(Part(line=SECTION))
            parts.append(Part(next(shares), first, last, fails_policy=index > 0))
        if kaggle:
            parts += [Part(line=TOTAL, policy_code=1), Part(line=TOTAL, policy_code=2)]
    if not kaggle:
        parts += [
            Part(line=BLANK),
            Part(line=TOTAL, policy_code=1),
            Part(line=TOTAL, policy_code=2),
            Part(line=BLANK),
        ]
    return ExportPlan(shape, tuple(parts), banner=not kaggle)


class LineFormat:
    """How one shape writes its header, loans and non-loan lines."""

    def __init__(self, shape: str, columns: tuple[str, ...]) -> None:
        self.quoted = shape == "download"
        self.columns = columns
        self.key_index = columns.index("id")

    def head(self, plan: ExportPlan) -> list[str]:
        """The lines above the first loan: the banner, if the plan has one, and the header."""
        header = quote_all(self.columns) if self.quoted else ",".join(self.columns)
        return [BANNER_TEXT, header] if plan.banner else [header]

    def loans(self, columns: dict[str, Sequence[str]]) -> Iterator[str]:
        ordered = [columns[c] for c in self.columns]
        if not self.quoted:
            return map(",".join, zip(*ordered))
        for name in _PREQUOTED:
            at = self.columns.index(name)
            ordered[at] = [v[1:-1] if v[:1] == '"' else v for v in ordered[at]]
        for name in PERCENT_COLUMNS:
            at = self.columns.index(name)
            ordered[at] = [f"{v}%" if v else v for v in ordered[at]]
        return (f'"{row}"' for row in map('","'.join, zip(*ordered)))

    def line(self, part: Part, funded: int) -> str:
        if part.line == BLANK:
            return ""
        amount = funded if part.policy_code == 1 else 0  # no policy-code-2 loans here
        text = SECTION_TEXT if part.line == SECTION else total_text(part.policy_code, amount)
        if self.quoted:
            return text if part.line == SECTION else quote_all([text])
        return ",".join(map(csv_cell, summary_row(text, len(self.columns), self.key_index)))
