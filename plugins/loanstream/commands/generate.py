"""``loanstream generate``: write a synthetic LendingClub-format CSV (deterministic per seed)."""

from __future__ import annotations

import argparse
import logging
import time

from loanstream.commands._common import print_json
from loanstream.sample import generate_sample

log = logging.getLogger("loanstream.generate")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "generate", help="write a synthetic LendingClub-format CSV (151 columns)"
    )
    p.add_argument("--rows", type=int, required=True, help="number of data rows")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument("--out", required=True, help="output CSV path (written atomically)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.rows < 0:
        print_json({"error": f"--rows must be >= 0, got {args.rows}"})
        return 2
    start = time.perf_counter()
    try:
        path = generate_sample(args.out, args.rows, seed=args.seed)
    except OSError as exc:
        log.error("cannot write %s: %s", args.out, exc)
        print_json({"error": f"cannot write {args.out}: {exc}"})
        return 2
    seconds = round(time.perf_counter() - start, 3)
    log.info("wrote %d rows to %s in %.1fs", args.rows, path, seconds)
    print_json({"rows": args.rows, "path": str(path), "seconds": seconds})
    return 0
