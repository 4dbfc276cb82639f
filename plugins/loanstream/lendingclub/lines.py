"""LendingClub's non-loan lines: the one definition of their shapes, used by every reader.

LendingClub's own downloads (``LoanStats3a.csv``, ``LoanStats_2016Q1.csv``, ...) and the Kaggle
export built from them (``accepted_2007_to_2018Q4.csv``) carry lines that are not loans:

``banner``
    ``Notes offered by Prospectus (https://www.lendingclub.com/info/prospectus.action)``, a
    one-field line above the header.
``section``
    ``Loans that do not meet the credit policy``, a title between two sections.
``total``
    ``Total amount funded in policy code 1: 460296150``, closing a section or the file.
``blank``
    An empty (or whitespace-only) line, e.g. before the totals and at the end of the file.

A section title or total is recognised as a one-field line, or as a full-width row whose
``id`` holds the text and every other field is blank (the Kaggle export's summary rows). A
banner is recognised before the header only. Nothing else is a non-loan line: a row with no
id of any other shape is an error for the validation and a rejection for the producer.

Validation (:mod:`loanstream.validation`) and the producer (:mod:`loanstream.produce.events`) call
:func:`preamble_kind` / :func:`body_kind` on each record and count what they skip in a
:class:`SkippedLines`, so both skip the same lines, number rows the same way (a skipped line
after the header is a data row like any other, so row numbers keep following the file) and
report the same ``{"kind": {"count": n, "lines": [file line, ...]}}``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

BANNER = "banner"
SECTION = "section"
TOTAL = "total"
BLANK = "blank"
KINDS: tuple[str, ...] = (BANNER, SECTION, TOTAL, BLANK)
LABELS = {
    BANNER: "banner line",
    SECTION: "section title",
    TOTAL: "policy-code total",
    BLANK: "blank line",
}
MAX_LINES_LISTED = 20  # per kind, in the JSON and the log; the count is always exact

# The texts LendingClub writes (the generator writes them too).
BANNER_TEXT = "Notes offered by Prospectus (https://www.lendingclub.com/info/prospectus.action)"
SECTION_TEXT = "Loans that do not meet the credit policy"


def total_text(policy_code: int, amount: int) -> str:
    """``Total amount funded in policy code 1: 460296150``."""
    return f"Total amount funded in policy code {policy_code}: {amount}"


_BANNER_RE = re.compile(
    r"Notes offered by Prospectus(?: \(https?://(?:www\.)?lendingclub\.com/[^\s()]*\))?"
)
_SECTION_RE = re.compile(r"Loans that (?:do not )?meet the credit policy")
_TOTAL_RE = re.compile(r"Total amount funded in policy code \d{1,3}: \d{1,20}(?:\.\d{1,2})?")
# Longest text of a section title or total, for the cheap "could this be one?" test.
MAX_SHAPE_CHARS = 80


def _text_kind(text: str) -> str | None:
    if _TOTAL_RE.fullmatch(text):
        return TOTAL
    if _SECTION_RE.fullmatch(text):
        return SECTION
    return None


def preamble_kind(fields: Sequence[str]) -> str | None:
    """The kind of a record before the header (banner or blank), or None (it is the header)."""
    if len(fields) > 1:
        return None
    text = fields[0].strip() if fields else ""
    if not text:
        return BLANK
    return BANNER if _BANNER_RE.fullmatch(text) else None


def body_kind(fields: Sequence[str], width: int, key_index: int | None) -> str | None:
    """The kind of a record after the header, or None when it is not a known non-loan line.

    ``width`` is the header's field count, ``key_index`` the position of ``id`` (None when the
    header has no id: then only one-field lines are recognised).
    """
    if len(fields) <= 1:
        text = fields[0].strip() if fields else ""
        return _text_kind(text) if text else BLANK
    if key_index is None or len(fields) != width:
        return None
    text = fields[key_index].strip()
    if not text or len(text) > MAX_SHAPE_CHARS or text.isdigit():
        return None
    kind = _text_kind(text)  # fails at the first character for an ordinary id
    if kind is None or any(value.strip() for i, value in enumerate(fields) if i != key_index):
        return None
    return kind


class SkippedLines:
    """Non-loan lines skipped in one file: an exact count and the first file lines, per kind."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.lines: dict[str, list[int]] = {}

    def add(self, kind: str, line: int) -> None:
        """Count one ``kind`` line at (1-based, physical) ``line`` of the file."""
        count = self.counts.get(kind, 0)
        self.counts[kind] = count + 1
        if count < MAX_LINES_LISTED:
            self.lines.setdefault(kind, []).append(line)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """``{"banner": {"count": 1, "lines": [1]}, ...}`` in :data:`KINDS` order."""
        return {
            kind: {"count": self.counts[kind], "lines": list(self.lines.get(kind, []))}
            for kind in KINDS
            if kind in self.counts
        }


def describe_skipped(skipped: dict[str, dict[str, Any]]) -> str:
    """One log line, e.g. ``skipped 4 non-loan lines ...: 1 banner line (line 1); ...``."""
    total = sum(item["count"] for item in skipped.values())
    parts = []
    for kind, item in skipped.items():
        lines = item["lines"]
        where = ", ".join(str(n) for n in lines)
        if item["count"] > len(lines):
            where += ", ..."
        plural = "" if item["count"] == 1 else "s"
        parts.append(f"{item['count']} {LABELS.get(kind, kind)}{plural} (line{plural} {where})")
    plural = "" if total == 1 else "s"
    return f"skipped {total} non-loan line{plural} of LendingClub's export format: " + "; ".join(
        parts
    )


# --- writing the export shapes (the generator and the test corpus) ---------------------------

# Columns LendingClub's own downloads write with a "%" ("10.65%"; the Kaggle export drops it).
PERCENT_COLUMNS: tuple[str, ...] = ("int_rate", "revol_util")
# Month names of LendingClub's dates ("Aug-1998").
MONTHS: tuple[str, ...] = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
)  # fmt: skip


def csv_cell(text: str) -> str:
    """``text`` quoted as the csv module would (QUOTE_MINIMAL), so rows can be joined fast."""
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def quote_all(fields: Sequence[str]) -> str:
    """One CSV line with every field quoted, as LendingClub's downloads write them."""
    return '"' + '","'.join(value.replace('"', '""') for value in fields) + '"'


def summary_row(text: str, width: int, key_index: int) -> list[str]:
    """The Kaggle export's full-width shape of a non-loan line: ``text`` as the id, rest blank."""
    row = [""] * width
    row[key_index] = text
    return row
