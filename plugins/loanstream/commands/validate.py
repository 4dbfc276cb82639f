"""``loanstream validate``: check a loan CSV with Great Expectations before it is produced.

Exit codes: 0 all critical checks passed, 1 a critical check failed, 2 the file cannot be
read at all, or lies outside the data directories (``LOANSTREAM_DATA_DIRS``; ``--allow-any-path``
reads it anyway). Summary lines go to the log (stderr); the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from loanstream.commands._common import add_allow_any_path

log = logging.getLogger("loanstream.validate")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_UNREADABLE = 2


def register(subparsers: Any) -> None:
    """Add the ``validate`` sub-command."""
    from loanstream.validation import DEFAULT_CHUNK_ROWS

    parser = subparsers.add_parser(
        "validate",
        help="validate a loan CSV with Great Expectations (exit 0 ok, 1 failed, 2 unreadable)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--csv",
        required=True,
        type=Path,
        help="the loan CSV to validate (inside LOANSTREAM_DATA_DIRS unless --allow-any-path)",
    )
    add_allow_any_path(parser)
    parser.add_argument(
        "--chunk-rows",
        type=int,
        default=DEFAULT_CHUNK_ROWS,
        help=f"rows validated per chunk (default {DEFAULT_CHUNK_ROWS})",
    )
    parser.add_argument(
        "--report-dir",
        type=Path,
        default=None,
        help="where <run-id>/validation.html goes (default $LOANSTREAM_REPORTS_DIR)",
    )
    parser.add_argument("--run-id", default=None, help="report folder name (default: timestamp)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate ``args.csv``; log the summary, print the JSON result, return the exit code."""
    from loanstream.paths import CsvOpenError, PathNotAllowed, open_checked_csv
    from loanstream.validation import CsvReadError, validate_csv

    try:  # opened once: every pass reads this descriptor
        csv_file = open_checked_csv(args.csv, allow_any_path=args.allow_any_path)
    except CsvOpenError as exc:
        return _unreadable(CsvReadError(exc.requested, exc.why))
    except PathNotAllowed as exc:
        log.error("validation ERROR: %s", exc)
        _print_json({"success": False, "rows": 0, "failed": [], "warnings": [], "report": None,
                     "path": exc.requested, "error": str(exc)})  # fmt: skip
        return EXIT_UNREADABLE
    try:
        with csv_file:
            result = validate_csv(
                csv_file,
                chunk_rows=args.chunk_rows,
                report_dir=args.report_dir,
                run_id=getattr(args, "run_id", None),
            )
    except CsvReadError as exc:
        return _unreadable(exc)
    for line in result.summary_lines():
        if line.startswith("FAILED"):
            log.error("%s", line)
        elif line.startswith("WARNING"):
            log.warning("%s", line)
        else:
            log.info("%s", line)
    _print_json(result.to_dict())
    return EXIT_OK if result.success else EXIT_FAILED


def _unreadable(exc: Any) -> int:
    """Log and print a file that cannot be read at all (a ``CsvReadError``)."""
    log.error("validation ERROR: %s", exc)
    log.error("next: nothing was produced; fix or re-export the file, then re-run")
    _print_json({"success": False, "rows": 0, "failed": [], "warnings": [], "report": None,
                 "path": exc.path, "error": exc.reason})  # fmt: skip
    return EXIT_UNREADABLE


def _print_json(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, sort_keys=False) + "\n")
    sys.stdout.flush()
