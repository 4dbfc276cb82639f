"""``loanstream generate``: write a synthetic LendingClub-format CSV (deterministic per seed).

``--shape plain`` (default) writes loans only; ``--shape kaggle`` the Kaggle export's layout
(``--rows 2260701`` is its real size: 2,260,668 loans and 33 full-width summary rows where the
real file has them); ``--shape download`` LendingClub's own download (banner, every field
quoted, ``%`` rates, section title line, footers). ``--rows`` counts data rows: loans plus
summary rows.
"""

from __future__ import annotations

import argparse
import logging
import time

from loanstream.commands._common import print_json
from loanstream.lendingclub.sample import SHAPES, generate_sample, plan_export

log = logging.getLogger("loanstream.generate")

NEWLINES = {"lf": "\n", "crlf": "\r\n"}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "generate",
        help="write a synthetic LendingClub-format CSV (151 columns)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--rows", type=int, required=True, help="number of data rows")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument("--out", required=True, help="output CSV path (written atomically)")
    p.add_argument("--shape", choices=SHAPES, default="plain", help="file layout (default plain)")
    p.add_argument(
        "--line-ending", choices=sorted(NEWLINES), default="lf", help="lf (default) or crlf"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    shape = getattr(args, "shape", "plain")
    try:
        plan = plan_export(shape, args.rows)
    except ValueError as exc:
        print_json({"error": str(exc)})
        return 2
    start = time.perf_counter()
    try:
        path = generate_sample(
            args.out,
            args.rows,
            seed=args.seed,
            shape=shape,
            newline=NEWLINES[getattr(args, "line_ending", "lf")],
        )
    except OSError as exc:
        log.error("cannot write %s: %s", args.out, exc)
        print_json({"error": f"cannot write {args.out}: {exc}"})
        return 2
    seconds = time.perf_counter() - start
    size = path.stat().st_size
    rate = args.rows / seconds if seconds > 0 else 0.0
    log.info(
        "wrote %d rows (%d loans, %d summary rows, %s shape) to %s: %d bytes in %.1fs "
        "(%.0f rows/s)",
        args.rows,
        plan.loans,
        plan.summary_rows,
        shape,
        path,
        size,
        seconds,
        rate,
    )
    print_json(
        {
            "rows": args.rows,
            "loans": plan.loans,
            "summary_rows": plan.summary_rows,
            "shape": shape,
            "path": str(path),
            "bytes": size,
            "seconds": round(seconds, 3),
            "rows_per_s": round(rate),
        }
    )
    return 0
