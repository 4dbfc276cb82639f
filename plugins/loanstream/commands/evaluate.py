"""``loanstream evaluate``: measure the risk rules offline on a CSV with known outcomes."""

from __future__ import annotations

import argparse
import logging

from loanstream.commands._common import add_allow_any_path, print_json
from loanstream.evaluation.offline import DEFAULT_FOLDS, DEFAULT_SEED, evaluate_csv
from loanstream.scoring import RulesError, load_rules, rules_markdown_table

log = logging.getLogger("loanstream.evaluate")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="score a labelled CSV offline: cross-validated AUC, KS, bad rate per band; then in-sample",
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
    p.add_argument(
        "--folds", type=int, default=DEFAULT_FOLDS, help="cross-validation folds (2..20)"
    )
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the fold assignment")
    p.set_defaults(func=run)


def _bands(by_band: dict) -> str:
    return ", ".join(
        f"{band} {v['bad_rate']:.1%} (n={v['n']})" if v["bad_rate"] is not None else f"{band} -"
        for band, v in by_band.items()
    )


def summary(result: dict) -> list[str]:
    """The figures as text, out-of-sample first (the JSON line follows them)."""
    oos, ins = result["out_of_sample"], result["in_sample"]
    lines = [
        f"{result['rows']} labelled loans, {result['bad']} bad; rules {result['rules_version']}"
    ]
    if "auc" in oos:
        lines += [
            f"OUT OF SAMPLE ({oos['method']}):",
            f"  AUC {oos['auc']:.3f} (folds {min(oos['auc_by_fold']):.3f}-"
            f"{max(oos['auc_by_fold']):.3f}), KS {oos['ks']:.3f}; "
            f"LendingClub sub_grade AUC {oos['lc_sub_grade_auc']:.3f}",
            f"  bad rate by band: {_bands(oos['bad_rate_by_band'])}",
        ]
    else:
        lines.append(f"OUT OF SAMPLE: not measured ({oos['method']})")
    lines += [
        f"in sample ({ins['method']}):",
        f"  AUC {ins['auc']:.3f}, KS {ins['ks']:.3f}; "
        f"LendingClub sub_grade AUC {ins['lc_sub_grade_auc']:.3f}",
        f"  bad rate by band: {_bands(ins['bad_rate_by_band'])}",
    ]
    return lines


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
    if not 2 <= args.folds <= 20:
        log.error("--folds must be between 2 and 20, got %d", args.folds)
        print_json({"error": f"--folds must be between 2 and 20, got {args.folds}"})
        return 2
    from loanstream.paths import CsvOpenError, PathNotAllowed, open_checked_csv

    try:  # opened once, read only through that descriptor
        csv_file = open_checked_csv(args.csv, allow_any_path=args.allow_any_path)
    except (PathNotAllowed, CsvOpenError) as exc:
        log.error("%s", exc)
        print_json({"error": str(exc)})
        return 2
    try:
        with csv_file:
            result = evaluate_csv(csv_file, rules, folds=args.folds, seed=args.seed)
    except OSError as exc:
        log.error("cannot read %s: %s", args.csv, exc)
        print_json({"error": f"cannot read {args.csv}: {exc}"})
        return 2
    if result["skipped"]:
        log.warning("%d rows failed preprocessing and were skipped", result["skipped"])
    for line in summary(result):
        print(line)
    print_json(result)
    return 0
