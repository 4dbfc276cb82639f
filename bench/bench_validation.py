"""Benchmark ``validate_csv`` on 100,000 and 1,000,000 rows of real LendingClub data.

The files are built in ``.local/bench/`` by cycling the 2,000 real rows of the shared sample
(all 151 columns) with fresh unique ids. Each size is validated in its own process so that
its peak RSS is its own. Run: ``.venv/bin/python bench/bench_validation.py [ROWS ...]``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from loanstream.config import shared_sample_csv

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SIZES = (100_000, 1_000_000)
TARGET_S_PER_MILLION = 90.0  # generate + validate 1,000,000 rows (was a unit-test assertion)


def shared_sample() -> Path:
    """The real LendingClub sample (``loanstream.config.shared_sample_csv``)."""
    return shared_sample_csv()


def replicate(source: Path, target: Path, rows: int) -> Path:
    """Write ``rows`` rows cycling over ``source`` (``id`` first), ids 1..rows."""
    with source.open(newline="", encoding="utf-8") as stream:
        reader = csv.reader(stream)
        header = next(reader)
        if header[0] != "id":
            raise SystemExit(f"{source}: expected 'id' as the first column")
        templates = []
        for record in reader:
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n").writerow(record[1:])
            templates.append(buffer.getvalue())
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8", newline="") as out:
        out.write(",".join(header) + "\n")
        for start in range(0, rows, 20_000):
            stop = min(start + 20_000, rows)
            out.write(
                "".join(f"{i + 1},{templates[i % len(templates)]}" for i in range(start, stop))
            )
    return target


def measure(path: Path, chunk_rows: int) -> dict:
    """Validate ``path`` in this process; timings and peak RSS (MiB)."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    started = time.monotonic()
    import great_expectations  # noqa: F401 - import time reported on its own

    imported = time.monotonic() - started
    from loanstream.validation import validate_csv

    result = validate_csv(path, chunk_rows=chunk_rows, report_dir=REPO / ".local" / "bench")
    return {
        "rows": result.rows,
        "success": result.success,
        "chunks": result.chunks,
        "seconds": round(result.seconds, 2),
        "rows_per_s": round(result.rows / result.seconds),
        "gx_import_s": round(imported, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "bytes": path.stat().st_size,
        "warnings": len(result.warnings),
        "failed": len(result.failed),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sizes", nargs="*", type=int, default=list(DEFAULT_SIZES))
    parser.add_argument("--chunk-rows", type=int, default=200_000)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.chunk_rows)))
        return 0
    source = shared_sample()
    print(f"source: {source}; chunk_rows {args.chunk_rows}; python {sys.version.split()[0]}")
    print(f"{'rows':>10} {'MB':>7} {'gen s':>6} {'valid s':>8} {'rows/s':>9} {'peak RSS':>9}  ok")
    for rows in args.sizes:
        started = time.monotonic()
        path = replicate(source, REPO / ".local" / "bench" / f"loans_{rows}.csv", rows)
        generated = time.monotonic() - started
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--measure",
                str(path),
                "--chunk-rows",
                str(args.chunk_rows),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        stats = json.loads(child.stdout.strip().splitlines()[-1])
        print(
            f"{stats['rows']:>10,} {stats['bytes'] / 1e6:>7.0f} {generated:>6.1f} "
            f"{stats['seconds']:>8.1f} {stats['rows_per_s']:>9,} {stats['peak_rss_mib']:>5} MiB"
            f"  {stats['success']} ({stats['chunks']} chunks, {stats['warnings']} warning checks,"
            f" GX import {stats['gx_import_s']}s)"
        )
        path.unlink()
        if rows == 1_000_000:
            total = generated + stats["seconds"]
            verdict = "met" if total < TARGET_S_PER_MILLION else "MISSED"
            print(f"target: 1,000,000 rows generated and validated in < {TARGET_S_PER_MILLION:.0f} s:"
                  f" {total:.1f} s, {verdict}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
