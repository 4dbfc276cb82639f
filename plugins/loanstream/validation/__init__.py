"""Validate a LendingClub loan CSV with Great Expectations before anything is produced.
May import: lendingclub.

``validate_csv`` scans the raw file once (:mod:`.scan`: UTF-8, delimiter, field counts and
LendingClub's non-loan lines), reads the loan rows as text chunk by chunk with pandas
(:mod:`.frames`), runs the suite of :mod:`loanstream.validation.expectations` on each chunk with a GX
Core 1.x ephemeral context (:mod:`.gx`), checks ``id`` uniqueness across chunks (:mod:`.ids`),
adds up counts and examples (:mod:`.result`) and writes an HTML report (:mod:`.report`).

Row numbers are 1-based data rows: the first record after the header is row 1, whatever the
chunk and however many physical lines a quoted field spans. LendingClub's non-loan lines
(:mod:`loanstream.lendingclub.lines`) and blank lines after the header are rows of the file too, so
skipping them does not renumber the rows after them; they are reported by file line.

A file that cannot be read at all raises :class:`CsvReadError`. GX, pandas and numpy are
imported inside functions only, so importing this package (e.g. at DAG-parse time) is cheap."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from loanstream.paths import CsvFile, CsvOpenError, FileChanged, opened
from loanstream.validation.expectations import (
    HAS_ROWS,
    ID_UNIQUE_ACROSS_CHUNKS,
    REQUIRED_COLUMNS,
    ROW_FIELD_COUNT,
    SUITE,
)
from loanstream.validation.report import report_path, write_report
from loanstream.validation.result import (
    MAX_EXAMPLES,
    Tally,
    ValidationResult,
    build_result,
    failing_counts,
)
from loanstream.validation.scan import CsvReadError, FileScan, scan_file

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "MAX_EXAMPLES",
    "CsvReadError",
    "FileScan",
    "ValidationResult",
    "scan_file",
    "validate_csv",
    "write_report",
]

log = logging.getLogger(__name__)

DEFAULT_CHUNK_ROWS = 200_000


def validate_csv(
    source: CsvFile | str | Path,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    report_dir: Path | None = None,
    run_id: str | None = None,
    max_line_bytes: int | None = None,
) -> ValidationResult:
    """Validate a LendingClub loan CSV chunk by chunk and write an HTML report.

    ``source``: the file opened once (:func:`loanstream.paths.open_data_csv`), or a path
    opened once here; every pass reads its descriptor. The result carries the file's SHA-256
    and size (``produce_events`` refuses a file whose digest differs).

    :raises CsvReadError: when the file cannot be read at all, has a line longer than
        ``max_line_bytes`` (default ``LOANSTREAM_MAX_LINE_BYTES``) or changed while read.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    try:
        with opened(source) as csv_file:
            result = _validate(csv_file, chunk_rows, report_dir, run_id, max_line_bytes)
            csv_file.check_unchanged()
    except FileChanged as exc:
        raise CsvReadError(Path(str(source)), exc.why) from None
    except CsvOpenError as exc:
        raise CsvReadError(Path(str(source)), exc.why) from None
    return result


def _validate(
    csv_file: CsvFile,
    chunk_rows: int,
    report_dir: Path | None,
    run_id: str | None,
    max_line_bytes: int | None,
) -> ValidationResult:
    from loanstream.lendingclub.lines import describe_skipped
    from loanstream.validation.frames import add_parsed_columns, read_chunks
    from loanstream.validation.gx import run_chunk, tally_gx, validation_definition
    from loanstream.validation.ids import IdTracker, tally_ids

    started = time.monotonic()
    path = csv_file.path
    scan = scan_file(csv_file, max_line_bytes)
    log.info(
        "validation: scanned %s: %d bytes, %d columns, %d data rows (%d loan rows), %s line "
        "endings, %d row(s) with a wrong field count (%.1fs); validating %d rows per chunk",
        path,
        scan.size,
        len(scan.header),
        scan.rows,
        scan.loan_rows,
        scan.line_ending,
        scan.ragged_rows,
        time.monotonic() - started,
        chunk_rows,
    )
    skipped = scan.skipped.to_dict()
    if skipped:
        log.info("validation: %s", describe_skipped(skipped))
    present = [column for column in dict.fromkeys(scan.header) if column in REQUIRED_COLUMNS]
    checks = [c for c in SUITE if c.column is None or c.column in present]
    ordered = (ROW_FIELD_COUNT, HAS_ROWS, *SUITE, ID_UNIQUE_ACROSS_CHUNKS)
    tallies = {c.name: Tally(c) for c in ordered}
    ragged = tallies[ROW_FIELD_COUNT.name]
    ragged.evaluated = True
    ragged.unexpected = scan.ragged_rows
    ragged.add_examples(scan.ragged_examples)
    definition = validation_definition(checks)
    ids = IdTracker()
    rows = chunks = 0
    for frame in read_chunks(csv_file, scan, present, chunk_rows):
        chunk_started = time.monotonic()
        add_parsed_columns(frame, present)
        tally_gx(run_chunk(definition, frame), frame, scan, tallies)
        if "id" in frame.columns:
            tally_ids(ids, frame, scan, tallies[ID_UNIQUE_ACROSS_CHUNKS.name])
        rows += len(frame)
        chunks += 1
        log.info(
            "validation: chunk %d loan rows %d-%d: %d critical and %d warning check(s) failing "
            "so far (%.1fs)",
            chunks,
            rows - len(frame) + 1,
            rows,
            *failing_counts(tallies),
            time.monotonic() - chunk_started,
        )
    if rows != scan.loan_rows:
        log.warning(
            "validation: pandas read %d loan rows, the csv scan counted %d", rows, scan.loan_rows
        )
    tallies[ID_UNIQUE_ACROSS_CHUNKS.name].evaluated = "id" in present
    has_rows = tallies[HAS_ROWS.name]
    has_rows.evaluated = True
    if rows == 0:
        has_rows.details = "the file has a header but no data rows"
    result = build_result(path, rows, chunks, tallies, started)
    result.skipped_lines = skipped
    result.sha256, result.size = scan.sha256, scan.size
    result.report = str(write_report(result, report_path(report_dir, run_id), scan.line_ending))
    result.seconds = time.monotonic() - started
    log.info(
        "validation: done %s: %s, %d rows, %d failed, %d warnings, %d non-loan line(s) "
        "skipped, %.1fs, report %s",
        path.name,
        "passed" if result.success else "FAILED",
        rows,
        len(result.failed),
        len(result.warnings),
        scan.skipped.total,
        result.seconds,
        result.report,
    )
    return result
