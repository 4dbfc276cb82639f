"""The two shapes of real LendingClub exports, built at test time from the real 2,000-row sample.

* :func:`write_download` -- LendingClub's own download (``LoanStats3a.csv``): a banner line
  above the header, every field quoted, ``%`` on ``int_rate``/``revol_util``, a section title
  line before the loans that do not meet the credit policy, a blank line, two policy-code
  totals, and blank lines at the end.
* :func:`write_kaggle` -- the Kaggle export (``accepted_2007_to_2018Q4.csv``): plain CSV with
  full-width summary rows (the id holds the text, every other field blank) closing sections,
  a full-width section title row, and a blank line at the end.

Each writer returns an :class:`Export`: the loans it holds and the non-loan lines it wrote
(by kind, with their file lines), i.e. what validation and the producer must report. Nothing
of the real sample is copied into the repository.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from loanstream.lendingclub.lines import (
    BANNER,
    BANNER_TEXT,
    BLANK,
    KINDS,
    PERCENT_COLUMNS,
    SECTION,
    SECTION_TEXT,
    TOTAL,
    quote_all,
    summary_row,
    total_text,
)

_POLICY = "Does not meet the credit policy. Status:"
_BREAKS = re.compile(r"\r\n|\r|\n")


@dataclass
class Export:
    """What one written export holds."""

    path: Path
    header: list[str]
    loans: int = 0
    ids: list[str] = field(default_factory=list)
    loan_lines: list[int] = field(default_factory=list)  # the file line of each loan
    header_line: int = 0
    lines: int = 0  # physical lines written so far
    skipped: dict[str, list[int]] = field(default_factory=dict)

    def skipped_lines(self) -> dict[str, dict]:
        """The ``skipped_lines`` dict validation and the producer must report."""
        return {
            kind: {"count": len(self.skipped[kind]), "lines": self.skipped[kind][:20]}
            for kind in KINDS
            if kind in self.skipped
        }


class _Writer:
    def __init__(self, export: Export, stream: io.TextIOBase, newline: str) -> None:
        self.export, self.stream, self.newline = export, stream, newline

    def line(self, text: str, kind: str | None = None) -> None:
        self.stream.write(text + self.newline)
        self.export.lines += 1 + len(_BREAKS.findall(text))
        if kind:
            self.export.skipped.setdefault(kind, []).append(self.export.lines)

    def loan(self, text: str, loan_id: str) -> None:
        self.line(text)
        self.export.loans += 1
        self.export.ids.append(loan_id)
        self.export.loan_lines.append(self.export.lines)

    def header(self, text: str) -> None:
        self.line(text)
        self.export.header_line = self.export.lines


def _plain(fields: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(fields)  # quotes fields with CR/LF
    return buffer.getvalue()[:-2]


def _sample(source: Path, rows: int | None) -> tuple[list[str], list[list[str]]]:
    with source.open(newline="", encoding="utf-8") as stream:
        reader = csv.reader(stream)
        header = next(reader)
        data = [row for _, row in zip(range(rows or 10**9), reader)]
    return header, data


def write_download(
    source: Path, target: Path, newline: str = "\n", rows: int | None = None
) -> Export:
    """LendingClub's own download shape (see the module docstring)."""
    header, data = _sample(source, rows)
    export = Export(target, header)
    at = {name: header.index(name) for name in (*PERCENT_COLUMNS, "id", "loan_status")}
    split = len(data) * 3 // 4  # the last quarter does not meet the credit policy
    funded = 0
    with target.open("w", encoding="utf-8", newline="") as stream:
        out = _Writer(export, stream, newline)
        out.line(BANNER_TEXT, BANNER)
        out.header(quote_all(header))
        for i, row in enumerate(data):
            row = list(row)
            for name in PERCENT_COLUMNS:
                if row[at[name]]:
                    row[at[name]] = f"{row[at[name]]}%"
            if i == split:
                out.line(SECTION_TEXT, SECTION)
            if i >= split and row[at["loan_status"]] in ("Fully Paid", "Charged Off"):
                row[at["loan_status"]] = _POLICY + row[at["loan_status"]]
            funded += int(float(row[header.index("funded_amnt")] or 0))
            out.loan(quote_all(row), row[at["id"]])
        out.line("", BLANK)
        out.line(quote_all([total_text(1, funded)]), TOTAL)
        out.line(quote_all([total_text(2, 0)]), TOTAL)
        out.line("", BLANK)
        out.line("", BLANK)
    return export


def write_kaggle(
    source: Path, target: Path, newline: str = "\n", rows: int | None = None
) -> Export:
    """The Kaggle export's shape (see the module docstring)."""
    header, data = _sample(source, rows)
    export = Export(target, header)
    key = header.index("id")
    width = len(header)
    sections = (0, len(data) // 3, len(data) * 2 // 3, len(data))
    with target.open("w", encoding="utf-8", newline="") as stream:
        out = _Writer(export, stream, newline)
        out.header(_plain(header))
        for number, (start, stop) in enumerate(zip(sections, sections[1:])):
            if number == 2:
                out.line(_plain(summary_row(SECTION_TEXT, width, key)), SECTION)
            for row in data[start:stop]:
                out.loan(_plain(row), row[key])
            amount = 1_000_000 * (number + 1)
            out.line(_plain(summary_row(total_text(1, amount), width, key)), TOTAL)
            out.line(_plain(summary_row(total_text(2, 0), width, key)), TOTAL)
        out.line("", BLANK)
    return export
