"""``loanstream evaluate``: measure the risk rules offline on a CSV with known outcomes."""

from __future__ import annotations

import argparse
import logging

from loanstream.commands._common import add_allow_any_path, print_json
from loanstream.evaluation import evaluate_csv
from loanstream.scoring import RulesError, load_rules, rules_markdown_table

log = logging.getLogger("loanstream.evaluate")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate", help="score a labelled CSV offline: AUC, KS, bad rate per band"
    )
    p.add_argument(
        "--csv",
        help="LendingClub CSV with loan_status (required unless --rules-table), inside "
        "LOANSTREAM_DATA_DIRS unless --allow-any-path",
    )
    add_allow_any_path(p)
    p.add_argument(
        "--rules", default=None, help="rules YAML (default: include/rules/risk_rules.yaml)"
    )
    p.add_argument(
        "--rules-table", action="store_true", help="print the rules as a Markdown table and exit"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        rules = load_rules(args.rules)
    except RulesError as exc:
        log.error("%s", exc)
        print_json({"error": str(exc)})
        return 2
    if args.rules_table:
        print(rules_markdown_table(rules))
        return 0
    if not args.csv:
        log.error("--csv is required")
        print_json({"error": "--csv is required"})
        return 2
    from loanstream.paths import PathNotAllowed, checked_csv

    try:
        csv_path = checked_csv(args.csv, allow_any_path=args.allow_any_path)
    except PathNotAllowed as exc:
        log.error("%s", exc)
        print_json({"error": str(exc)})
        return 2
    try:
        result = evaluate_csv(csv_path, rules)
    except OSError as exc:
        log.error("cannot read %s: %s", args.csv, exc)
        print_json({"error": f"cannot read {args.csv}: {exc}"})
        return 2
    if result["skipped"]:
        log.warning("%d labelled rows failed preprocessing and were skipped", result["skipped"])
    print_json(result)
    return 0
