"""Validate a LendingClub loan CSV with Great Expectations before anything is produced.

``validate_csv`` reads the file as text (every column a string, blanks as NaN), chunk by
chunk, runs the suite of :mod:`loanstream.expectations` on each chunk with a GX Core 1.x
ephemeral context, and adds up counts and examples across chunks. ``id`` uniqueness across
chunks is checked here with 64-bit hashes of every id seen. Row numbers are 1-based data rows:
the first row after the header is row 1, whatever the chunk and however many physical lines
a quoted field spans.

A file that cannot be read at all raises :class:`CsvReadError`. GX, pandas and numpy are
imported inside functions only, so importing this module (e.g. at DAG-parse time) is cheap.
"""

from __future__ import annotations

import codecs
import csv
import html
import io
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loanstream.expectations import (
    CRITICAL,
    HAS_ROWS,
    ID_UNIQUE_ACROSS_CHUNKS,
    PARSED_COLUMNS,
    REQUIRED_COLUMNS,
    ROW_FIELD_COUNT,
    SUITE,
    SUITE_NAME,
    Check,
    parsed_column,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

log = logging.getLogger(__name__)

DEFAULT_CHUNK_ROWS = 200_000
MAX_EXAMPLES = 10
XCOM_EXAMPLES = 5
XCOM_VALUE_CHARS = 60
_SCAN_BLOCK = 1 << 20
_OTHER_DELIMITERS = {";": "';' (semicolon)", "\t": "tab", "|": "'|' (pipe)"}


class CsvReadError(ValueError):
    """The CSV cannot be read at all (missing, empty, not UTF-8, wrong delimiter, malformed)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read {self.path}: {reason}")


@dataclass
class ValidationResult:
    """Outcome of validating one file; ``failed`` holds critical, ``warnings`` warning checks."""

    success: bool
    rows: int
    failed: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    report: str | None
    seconds: float
    path: str = ""
    chunks: int = 0
    checks: list[dict[str, Any]] = field(default_factory=list, repr=False)

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
            "report": self.report,
        }

    def summary_lines(self) -> list[str]:
        """Log lines: verdict, each failed check, each warning, the report, what to do next."""
        verdict = "PASSED" if self.success else "FAILED"
        lines = [
            f"validation {verdict} for {self.path}: {self.rows} rows in {self.chunks} chunk(s), "
            f"{len(self.failed)} critical check(s) failed, {len(self.warnings)} warning(s) "
            f"({self.seconds:.1f}s)"
        ]
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
class _Tally:
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


def validate_csv(
    path: str | Path,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    report_dir: Path | None = None,
    run_id: str | None = None,
) -> ValidationResult:
    """Validate a LendingClub loan CSV chunk by chunk and write an HTML report.

    :raises CsvReadError: when the file cannot be read at all.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    started = time.monotonic()
    path = Path(path)
    scan = scan_file(path)
    log.info(
        "validation: scanned %s: %d bytes, %d columns, %d rows, %s line endings, "
        "%d row(s) with a wrong field count (%.1fs); validating %d rows per chunk",
        path,
        scan.size,
        len(scan.header),
        scan.rows,
        scan.line_ending,
        scan.ragged_rows,
        time.monotonic() - started,
        chunk_rows,
    )
    present = [column for column in dict.fromkeys(scan.header) if column in REQUIRED_COLUMNS]
    checks = [c for c in SUITE if c.column is None or c.column in present]
    ordered = (ROW_FIELD_COUNT, HAS_ROWS, *SUITE, ID_UNIQUE_ACROSS_CHUNKS)
    tallies = {c.name: _Tally(c) for c in ordered}
    ragged = tallies[ROW_FIELD_COUNT.name]
    ragged.evaluated = True
    ragged.unexpected = scan.ragged_rows
    ragged.add_examples(scan.ragged_examples)
    definition = _validation_definition(checks)
    ids = _IdTracker()
    rows = chunks = 0
    for frame in _read_chunks(path, present, chunk_rows):
        chunk_started = time.monotonic()
        _add_parsed_columns(frame, present)
        gx_result = definition.run(
            batch_parameters={"dataframe": frame},
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": MAX_EXAMPLES},
        )
        _tally_gx(gx_result, frame, tallies)
        if "id" in frame.columns:
            _tally_ids(ids, frame, tallies[ID_UNIQUE_ACROSS_CHUNKS.name])
        rows += len(frame)
        chunks += 1
        log.info(
            "validation: chunk %d rows %d-%d: %d critical and %d warning check(s) failing so far "
            "(%.1fs)",
            chunks,
            rows - len(frame) + 1,
            rows,
            *_failing_counts(tallies),
            time.monotonic() - chunk_started,
        )
    if rows != scan.rows:
        log.warning("validation: pandas read %d rows, the csv scan counted %d", rows, scan.rows)
    tallies[ID_UNIQUE_ACROSS_CHUNKS.name].evaluated = "id" in present
    has_rows = tallies[HAS_ROWS.name]
    has_rows.evaluated = True
    if rows == 0:
        has_rows.details = "the file has a header but no data rows"
    result = _result(path, rows, chunks, tallies, started)
    result.report = str(write_report(result, _report_path(report_dir, run_id), scan.line_ending))
    result.seconds = time.monotonic() - started
    log.info(
        "validation: done %s: %s, %d rows, %d failed, %d warnings, %.1fs, report %s",
        path.name,
        "passed" if result.success else "FAILED",
        rows,
        len(result.failed),
        len(result.warnings),
        result.seconds,
        result.report,
    )
    return result


# --- reading ---------------------------------------------------------------------------------


@dataclass
class FileScan:
    """What one streaming pass over the raw file found before pandas reads it."""

    size: int
    line_ending: str
    header: list[str]
    rows: int = 0
    ragged_rows: int = 0
    ragged_examples: list[dict[str, Any]] = field(default_factory=list)


def scan_file(path: Path) -> FileScan:
    """Check that ``path`` is readable UTF-8 CSV and count each record's fields.

    Streams the file in 1 MiB blocks through an incremental UTF-8 decoder (a bad byte is
    reported with its offset and line), and counts the fields of every record, which pandas
    reading only some columns does not: rows with more or fewer fields than the header are
    found here. Memory stays bounded.
    """
    if not path.exists():
        raise CsvReadError(path, "file does not exist")
    if not path.is_file():
        raise CsvReadError(path, "not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise CsvReadError(path, "file is empty (0 bytes): expected a header line and data rows")
    with path.open("rb") as stream:
        line_ending = _line_ending(stream.read(_SCAN_BLOCK))
    scan: FileScan | None = None
    try:
        for width, record in _records(_decoded_lines(path, line_ending)):
            if scan is None:
                scan = FileScan(size, line_ending, _header(path, record()))
                continue
            scan.rows += 1
            if width != len(scan.header):
                scan.ragged_rows += 1
                if len(scan.ragged_examples) < MAX_EXAMPLES:
                    value = f"{width} fields, header has {len(scan.header)}"
                    scan.ragged_examples.append({"row": scan.rows, "value": value})
    except _Utf8Error as exc:
        raise CsvReadError(path, exc.reason(header_read=scan is not None)) from exc
    except csv.Error as exc:
        row = scan.rows + 1 if scan else 0
        raise CsvReadError(path, f"malformed CSV at data row {row}: {exc}") from exc
    if scan is None:
        raise CsvReadError(path, "no header line: the file holds only blank lines")
    return scan


class _PushBack:
    """An iterator over ``lines`` that can be handed back one line."""

    def __init__(self, lines: Iterator[str]) -> None:
        self.lines = lines
        self.pushed: str | None = None

    def __iter__(self) -> _PushBack:
        return self

    def __next__(self) -> str:
        if self.pushed is not None:
            line, self.pushed = self.pushed, None
            return line
        return next(self.lines)


def _records(lines: Iterator[str]) -> Iterator[tuple[int, Callable[[], list[str]]]]:
    """(field count, fields) of each non-blank CSV record, with :mod:`csv` semantics.

    A line without a quote is a whole record: its fields are counted with ``str.count``.
    A line with a quote goes to :mod:`csv`, which reads on as far as the record spans.
    """
    feed = _PushBack(lines)
    reader = csv.reader(feed)
    for line in feed:
        if '"' in line:
            feed.pushed = line
            fields = next(reader)
            if fields:
                yield len(fields), lambda fields=fields: fields
            continue
        text = line.rstrip("\r\n")
        if text:  # blank lines are skipped, by pandas too
            yield text.count(",") + 1, lambda text=text: text.split(",")


def _decoded_lines(path: Path, line_ending: str) -> Iterator[str]:
    """Lines of ``path`` with their endings (LF, CRLF or bare CR), decoded as strict UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    eol = b"\r" if line_ending == "CR" else b"\n"
    offset = newlines = 0
    carry = ""
    with path.open("rb") as stream:
        while block := stream.read(_SCAN_BLOCK):
            pending = len(decoder.getstate()[0])
            try:
                text = carry + decoder.decode(block)
            except UnicodeDecodeError as exc:
                # the complete lines before the bad byte first: the header may be among them
                good = decoder.decode(block[: max(exc.start - pending, 0)])
                done = io.StringIO(carry + good, newline="").readlines()
                if done and not done[-1].endswith(("\n", "\r")):
                    done.pop()  # the line with the bad byte
                yield from done
                raise _Utf8Error(*_utf8_reason(block, exc, offset, pending, newlines, eol)) from exc
            lines = io.StringIO(text, newline="").readlines()
            carry = lines.pop() if lines else ""
            yield from lines
            newlines += block.count(eol)
            offset += len(block)
    try:
        carry += decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        if carry:
            yield carry
        raise _Utf8Error(
            f"not valid UTF-8: the file ends inside a multi-byte character (byte {offset})"
        ) from exc
    if carry:
        yield carry


def _line_ending(block: bytes) -> str:
    if b"\r\n" in block:
        return "CRLF"
    if b"\n" in block:
        return "LF"
    return "CR" if b"\r" in block else "none"


class _Utf8Error(Exception):
    """A byte that is not UTF-8; ``reason(header_read)`` quotes it only in a known CSV."""

    def __init__(self, with_byte: str, without_byte: str | None = None) -> None:
        super().__init__(with_byte)
        self.with_byte = with_byte
        self.without_byte = without_byte or with_byte

    def reason(self, header_read: bool) -> str:
        return self.with_byte if header_read else self.without_byte


def _utf8_reason(
    block: bytes,
    exc: UnicodeDecodeError,
    block_offset: int,
    pending: int,
    newlines: int,
    eol: bytes,
) -> tuple[str, str]:
    """Where the first non-UTF-8 byte is, and what encoding the file probably has.

    Two versions: with the byte's value, and without it (for a file whose header has not been
    read: such a file is not known to be data, so nothing of it is quoted).
    """
    local = max(exc.start - pending, 0)  # the decoder prepends its pending bytes
    offset = block_offset + exc.start - pending
    line = newlines + block[:local].count(eol) + 1
    bad = exc.object[exc.start : exc.start + 1].hex()
    where = f"at byte offset {offset} (line {line}, data row ~{line - 1} if no field spans lines)"
    advice = "the file looks Latin-1/Windows-1252 encoded: re-export it as UTF-8"
    return (
        f"not valid UTF-8: byte 0x{bad} {where}; {advice}",
        f"not valid UTF-8: a byte {where} is not UTF-8; {advice}",
    )


def _header(path: Path, record: list[str]) -> list[str]:
    """Column names of the first record; raises when the delimiter is clearly not a comma."""
    if len(record) == 1 and len(REQUIRED_COLUMNS) > 1:
        raise CsvReadError(path, _delimiter_reason(record[0]))
    return [name.strip() for name in record]


def _delimiter_reason(line: str) -> str:
    counts = {d: line.count(d) for d in _OTHER_DELIMITERS}
    delimiter, count = max(counts.items(), key=lambda item: item[1])
    if count:
        return (
            f"only 1 column detected with ',' as delimiter; the header looks "
            f"{_OTHER_DELIMITERS[delimiter]}-separated ({count + 1} fields): loanstream expects "
            f"comma-separated LendingClub CSV with at least {len(REQUIRED_COLUMNS)} columns"
        )
    # Nothing of the line itself: until its header is read, the file is not known to be data.
    return (
        f"only 1 column detected in the first line (no ',' ';' tab or '|'): loanstream "
        f"expects comma-separated LendingClub CSV with at least {len(REQUIRED_COLUMNS)} columns"
    )


def _read_chunks(path: Path, columns: list[str], chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The wanted columns as strings (blank -> NaN), indexed by 0-based data row."""
    import pandas as pd

    wanted = set(columns)
    try:
        reader = pd.read_csv(
            path,
            dtype=str,
            usecols=lambda name: name.strip() in wanted,
            keep_default_na=False,
            na_values=[""],
            encoding="utf-8-sig",
            chunksize=chunk_rows,
        )
        with reader:
            for frame in reader:
                frame.columns = [name.strip() for name in frame.columns]
                yield frame
    except pd.errors.ParserError as exc:
        raise CsvReadError(path, f"malformed CSV: {_parser_message(exc)}") from exc
    except pd.errors.EmptyDataError as exc:
        raise CsvReadError(path, "no columns to parse: the file has no header") from exc


def _parser_message(exc: Exception) -> str:
    message = str(exc).strip().splitlines()[-1]
    return message.replace("Error tokenizing data. C error: ", "")


def _add_parsed_columns(frame: pd.DataFrame, present: list[str]) -> None:
    """Add ``<column>__parsed`` numeric columns; text that does not parse becomes NaN."""
    import pandas as pd

    for column in PARSED_COLUMNS:
        if column in present:
            text = frame[column].str.strip().str.rstrip("%")
            frame[parsed_column(column)] = pd.to_numeric(text, errors="coerce")


# --- Great Expectations ----------------------------------------------------------------------


def _validation_definition(checks: list[Check]) -> Any:
    """An ephemeral GX context with the suite and a whole-dataframe ValidationDefinition."""
    gx_logger = logging.getLogger("great_expectations")
    if gx_logger.level == logging.NOTSET:  # GX logs its own start-up at INFO
        gx_logger.setLevel(logging.WARNING)
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        progress_bars=ProgressBarsConfig(globally=False),
        analytics_enabled=False,
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    asset = context.data_sources.add_pandas("loanstream").add_dataframe_asset("loan_file")
    batch = asset.add_batch_definition_whole_dataframe("whole_chunk")
    suite = context.suites.add(gx.ExpectationSuite(name=SUITE_NAME))
    for check in checks:
        expectation_class = getattr(gxe, check.expectation)
        column = {"column": check.gx_column} if check.column else {}
        suite.add_expectation(
            expectation_class(
                **column, **check.kwargs, meta={"check": check.name, "kind": check.kind}
            )
        )
    definition = gx.ValidationDefinition(name=f"{SUITE_NAME}_chunk", data=batch, suite=suite)
    return context.validation_definitions.add(definition)


def _tally_gx(gx_result: Any, frame: pd.DataFrame, tallies: dict[str, _Tally]) -> None:
    """Add one chunk's GX results to the running tallies."""
    for outcome in gx_result.results:
        tally = tallies[outcome.expectation_config.meta["check"]]
        first = not tally.evaluated
        tally.evaluated = True
        info = outcome.exception_info or {}
        if info.get("raised_exception"):
            tally.details = f"GX raised: {info.get('exception_message')}"
            continue
        result = outcome.result or {}
        if tally.check.column is None:
            missing = result.get("details", {}).get("mismatched", {}).get("missing")
            if first and missing:
                tally.details = "missing required column(s): " + ", ".join(sorted(missing))
                tally.unexpected = len(missing)
            continue
        count = int(result.get("unexpected_count") or 0)
        if count:
            tally.unexpected += count
            indexes = result.get("partial_unexpected_index_list") or []
            tally.add_examples([_example(frame, tally.check.column, i) for i in indexes])


def _example(frame: pd.DataFrame, column: str, index: Any) -> dict[str, Any]:
    if isinstance(index, dict):  # GX returns dicts when index columns are named
        index = next(iter(index.values()))
    value = frame.at[index, column]
    return {"row": int(index) + 1, "value": None if _is_missing(value) else str(value)}


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


# --- id uniqueness across chunks -------------------------------------------------------------


class _IdTracker:
    """64-bit hashes of every id seen so far, sorted, with the data row of each first sighting."""

    def __init__(self) -> None:
        import numpy as np

        self.hashes: np.ndarray = np.empty(0, dtype=np.uint64)
        self.rows: np.ndarray = np.empty(0, dtype=np.int64)

    def add(self, ids: pd.Series) -> list[tuple[int, str, int]]:
        """Record a chunk's ids; return (row, id, first_row) for ids seen in earlier chunks."""
        import numpy as np
        import pandas as pd

        ids = ids.dropna()
        hashes = pd.util.hash_pandas_object(ids, index=False).to_numpy(dtype=np.uint64)
        rows = ids.index.to_numpy(dtype=np.int64) + 1
        repeats: list[tuple[int, str, int]] = []
        if len(self.hashes):
            pos = np.minimum(np.searchsorted(self.hashes, hashes), len(self.hashes) - 1)
            hit = np.flatnonzero(self.hashes[pos] == hashes)
            values = ids.to_numpy()
            repeats = [(int(rows[i]), str(values[i]), int(self.rows[pos[i]])) for i in hit]
        merged = np.concatenate([self.hashes, hashes])
        merged_rows = np.concatenate([self.rows, rows])
        order = np.argsort(merged, kind="stable")
        self.hashes, self.rows = merged[order], merged_rows[order]
        return repeats


def _tally_ids(tracker: _IdTracker, frame: pd.DataFrame, tally: _Tally) -> None:
    repeats = tracker.add(frame["id"])
    tally.unexpected += len(repeats)
    tally.add_examples(
        [{"row": row, "value": value, "first_row": first} for row, value, first in repeats]
    )


# --- results and report ----------------------------------------------------------------------


def _failing_counts(tallies: dict[str, _Tally]) -> tuple[int, int]:
    failing = [t for t in tallies.values() if t.evaluated and not t.passed]
    critical = sum(1 for t in failing if t.check.kind == CRITICAL)
    return critical, len(failing) - critical


def _result(
    path: Path, rows: int, chunks: int, tallies: dict[str, _Tally], started: float
) -> ValidationResult:
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


def _status(tally: _Tally) -> str:
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
        {**ex, "value": _shorten(ex.get("value"))} for ex in item["examples"][:XCOM_EXAMPLES]
    ]
    compact = {
        key: item[key] for key in ("check", "expectation", "column", "kind", "unexpected_count")
    }
    compact["examples"] = examples
    if "details" in item:
        compact["details"] = item["details"]
    return compact


def _shorten(value: Any) -> Any:
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
        line += ", e.g. " + "; ".join(_describe_example(ex) for ex in item["examples"])
    return line


def _describe_example(example: dict[str, Any]) -> str:
    text = f"row {example['row']}: {_shorten(example['value'])!r}"
    if "first_row" in example:
        text += f" (first seen at row {example['first_row']})"
    return text


def _report_path(report_dir: Path | None, run_id: str | None) -> Path:
    if report_dir is None:
        from loanstream.config import Settings

        report_dir = Settings.from_env().reports_dir or Path(".local/reports")
    name = run_id or datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "run"
    return Path(report_dir) / safe / "validation.html"


def write_report(result: ValidationResult, path: Path, line_ending: str = "") -> Path:
    """Write a self-contained HTML report of every check and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = "\n".join(_report_row(check) for check in _report_order(result.checks))
    verdict = "PASSED" if result.success else "FAILED"
    colour = "#1a7f37" if result.success else "#cf222e"
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>loanstream validation {verdict}: {html.escape(Path(result.path).name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }}
.failed {{ background: #ffebe9; }} .warning {{ background: #fff8c5; }}
.passed {{ color: #57606a; }} code {{ font-size: 90%; }}
</style></head><body>
<h1 style="color: {colour}">Validation {verdict}</h1>
<p>File <code>{html.escape(result.path)}</code>: {result.rows} data rows in {result.chunks}
chunk(s), {len(result.failed)} critical check(s) failed, {len(result.warnings)} warning(s),
{result.seconds:.1f}s. Line endings: {html.escape(line_ending)}. Suite
<code>{SUITE_NAME}</code> (Great Expectations Core). Rows are 1-based data rows (row 1 is the
first line after the header).</p>
<table><thead><tr><th>status</th><th>kind</th><th>check</th><th>expectation</th>
<th>column</th><th>rule</th><th>unexpected</th><th>examples (row: value)</th></tr></thead>
<tbody>
{rows}
</tbody></table>
<script type="application/json" id="result">{html.escape(json.dumps(result.to_dict()))}</script>
</body></html>
"""
    path.write_text(page, encoding="utf-8")
    return path


def _report_order(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rank = {"failed": 0, "warning": 1, "passed": 2}
    return sorted(checks, key=lambda c: rank.get(c["status"], 3))


def _report_row(check: dict[str, Any]) -> str:
    examples = "<br>".join(html.escape(_describe_example(ex)) for ex in check["examples"])
    if check.get("details"):
        examples = html.escape(check["details"]) + ("<br>" + examples if examples else "")
    cells = [
        check["status"],
        check["kind"],
        check["check"],
        f"<code>{check['expectation']}</code>",
        html.escape(check["column"] or "(table)"),
        html.escape(check["rule"]),
        str(check["unexpected_count"]),
    ]
    css = check["status"].split(":")[0]
    return (
        f'<tr class="{css}">'
        + "".join(f"<td>{c}</td>" for c in cells)
        + f"<td>{examples}</td></tr>"
    )
