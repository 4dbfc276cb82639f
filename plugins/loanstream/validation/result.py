"""What a validation found: per-check tallies added up over chunks, the result, its log lines."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loanstream.validation.expectations import CRITICAL, Check

MAX_EXAMPLES = 10
XCOM_EXAMPLES = 5
XCOM_VALUE_CHARS = 60


@dataclass
class ValidationResult:
    """Outcome of validating one file; ``failed`` holds critical, ``warnings`` warning checks.

    ``skipped_lines`` holds LendingClub's non-loan lines (banner, section titles, policy-code
    totals, blank lines) the file had, by kind: ``{"total": {"count": 2, "lines": [...]}}``.
    """

    success: bool
    rows: int
    failed: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    report: str | None
    seconds: float
    path: str = ""
    chunks: int = 0
    checks: list[dict[str, Any]] = field(default_factory=list, repr=False)
    skipped_lines: dict[str, dict[str, Any]] = field(default_factory=dict)
    sha256: str = ""  # of the file validated, read through the descriptor it was opened on
    size: int = 0  # bytes

    def to_dict(self) -> dict[str, Any]:
        """A small JSON-serialisable summary, fit for an Airflow XCom."""
        return {
            "path": self.path,
            "success": self.success,
            "rows": self.rows,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
            "failed": [_compact(item) for item in self.failed],
            "warnings": [_compact(item) for item in self.warnings],
            "skipped_lines": self.skipped_lines,
            "report": self.report,
            "sha256": self.sha256,
            "size": self.size,
        }

    def summary_lines(self) -> list[str]:
        """Log lines: verdict, skipped lines, each failed check, each warning, the report, advice."""
        from loanstream.lendingclub.lines import describe_skipped

        verdict = "PASSED" if self.success else "FAILED"
        lines = [
            f"validation {verdict} for {self.path}: {self.rows} rows in {self.chunks} chunk(s), "
            f"{len(self.failed)} critical check(s) failed, {len(self.warnings)} warning(s) "
            f"({self.seconds:.1f}s)"
        ]
        if self.skipped_lines:
            lines.append(describe_skipped(self.skipped_lines))
        lines += [_describe("FAILED", item, self.rows) for item in self.failed]
        lines += [_describe("WARNING", item, self.rows) for item in self.warnings]
        lines.append(f"report: {self.report}" if self.report else "report: not written")
        if self.success:
            advice = "all critical checks passed; the file may be produced"
            if self.warnings:
                advice += " (warnings are informational: review them in the report)"
        else:
            advice = (
                f"nothing may be produced from {self.path}: fix the rows/columns named above "
                "at the source, then re-run `loanstream validate --csv PATH`"
            )
        lines.append(f"next: {advice}")
        return lines


@dataclass
class Tally:
    """Counts and examples of one check, added up over chunks."""

    check: Check
    evaluated: bool = False
    unexpected: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    details: str | None = None

    @property
    def passed(self) -> bool:
        return self.unexpected == 0 and self.details is None

    def add_examples(self, examples: list[dict[str, Any]]) -> None:
        room = MAX_EXAMPLES - len(self.examples)
        if room > 0:
            self.examples.extend(examples[:room])

    def as_dict(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "check": self.check.name,
            "expectation": _snake(self.check.expectation),
            "column": self.check.column,
            "kind": self.check.kind,
            "rule": self.check.rule,
            "unexpected_count": self.unexpected,
            "examples": list(self.examples),
        }
        if self.details:
            item["details"] = self.details
        return item


def failing_counts(tallies: dict[str, Tally]) -> tuple[int, int]:
    """(critical, warning) checks failing so far."""
    failing = [t for t in tallies.values() if t.evaluated and not t.passed]
    critical = sum(1 for t in failing if t.check.kind == CRITICAL)
    return critical, len(failing) - critical


def build_result(
    path: Path, rows: int, chunks: int, tallies: dict[str, Tally], started: float
) -> ValidationResult:
    """The result of a finished run over every chunk."""
    failing = [t for t in tallies.values() if t.evaluated and not t.passed]
    failed = [t.as_dict() for t in failing if t.check.kind == CRITICAL]
    warnings = [t.as_dict() for t in failing if t.check.kind != CRITICAL]
    checks = [{**t.as_dict(), "status": _status(t)} for t in tallies.values()]
    return ValidationResult(
        success=not failed,
        rows=rows,
        failed=failed,
        warnings=warnings,
        report=None,
        seconds=time.monotonic() - started,
        path=str(path),
        chunks=chunks,
        checks=checks,
    )


def _status(tally: Tally) -> str:
    if not tally.evaluated:
        return "skipped: column missing"
    if tally.passed:
        return "passed"
    return "failed" if tally.check.kind == CRITICAL else "warning"


def _snake(name: str) -> str:
    """``ExpectColumnValuesToBeUnique`` -> ``expect_column_values_to_be_unique``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _compact(item: dict[str, Any]) -> dict[str, Any]:
    examples = [
        {**ex, "value": shorten(ex.get("value"))} for ex in item["examples"][:XCOM_EXAMPLES]
    ]
    compact = {
        key: item[key] for key in ("check", "expectation", "column", "kind", "unexpected_count")
    }
    compact["examples"] = examples
    if "details" in item:
        compact["details"] = item["details"]
    return compact


def shorten(value: Any) -> Any:
    """A long text value cut to ``XCOM_VALUE_CHARS`` characters."""
    if isinstance(value, str) and len(value) > XCOM_VALUE_CHARS:
        return value[: XCOM_VALUE_CHARS - 3] + "..."
    return value


def _describe(label: str, item: dict[str, Any], rows: int) -> str:
    column = f" column '{item['column']}'" if item["column"] else ""
    line = (
        f"{label} [{item['kind']}] {item['check']}: {item['expectation']} on{column or ' the table'}"
        f" ({item['rule']})"
    )
    if item.get("details"):
        line += f": {item['details']}"
    if item["unexpected_count"] and not item.get("details"):
        line += f": {item['unexpected_count']} of {rows} rows unexpected"
    if item["examples"]:
        line += ", e.g. " + "; ".join(describe_example(ex) for ex in item["examples"])
    return line


def describe_example(example: dict[str, Any]) -> str:
    """``row 4: 'July 2015'`` (with the first sighting of a repeated id)."""
    text = f"row {example['row']}: {shorten(example['value'])!r}"
    if "first_row" in example:
        text += f" (first seen at row {example['first_row']})"
    return text
