"""``loanstream decisions prune --older-than 90d``: retention of the decision history.

Deletes the decisions scored longer ago than the age given that are no longer their loan's
current decision (``prune_risk_decisions``, migration 0005): current state (the ``risk_scored``
view) is never touched. Before deleting, the figures of every final run that has such
decisions are computed and stored (``runs.figures``), so the page, the metrics and
``summarize`` show a pruned run as it was.
"""

from __future__ import annotations

import argparse
import logging
import re

import psycopg2

from loanstream.commands._common import print_json
from loanstream.config import Settings, redact_dsn
from loanstream.runs import figures
from loanstream.store.connect import first_line, pg_connect

log = logging.getLogger("loanstream.decisions")

UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
AGE = re.compile(r"^(\d{1,6})([smhdw])$")
RUNS_SQL = """
SELECT DISTINCT run_id FROM risk_decisions
WHERE scored_at < now() - %s::interval AND run_id IS NOT NULL
"""
PRUNE_SQL = "SELECT prune_risk_decisions(%s::interval)"


def age(text: str) -> str:
    """``90d`` -> ``90 days`` (a Postgres interval); s, m, h, d, w."""
    match = AGE.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r}: give an age like 90d, 12h, 2w (s, m, h, d, w)")
    return f"{int(match.group(1))} {UNITS[match.group(2)]}"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "decisions", help="the decision history: prune decisions older than an age"
    )
    p.add_argument("action", choices=["prune"])
    p.add_argument("--older-than", type=age, required=True, metavar="AGE",
                   help="delete superseded decisions scored before this age, e.g. 90d")  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    dsn = redact_dsn(settings.pg_dsn)
    result = {"action": "prune", "older_than": args.older_than, "dsn": dsn}
    try:
        conn = pg_connect(settings.pg_dsn, application_name="loanstream-prune")
    except psycopg2.OperationalError as exc:
        result["error"] = f"cannot connect to Postgres ({first_line(exc)}); start it (`make up`)"
        print_json(result)
        return 1
    try:
        with conn.cursor() as cur:
            cur.execute(RUNS_SQL, (args.older_than,))
            runs = [run_id for (run_id,) in cur.fetchall()]
        conn.commit()
        kept = sum(figures.run_figures(conn, r, store=True)["figures_stored"] for r in runs)
        with conn, conn.cursor() as cur:
            cur.execute(PRUNE_SQL, (args.older_than,))
            (deleted,) = cur.fetchone()
    except psycopg2.Error as exc:
        result["error"] = first_line(exc)
        log.error("%s", result["error"])
        print_json(result)
        return 1
    finally:
        conn.close()
    log.info("deleted %d superseded decisions scored over %s ago; figures of %d of %d runs "
             "touched are stored", deleted, args.older_than, kept, len(runs))  # fmt: skip
    print_json({**result, "deleted": deleted, "runs_touched": len(runs), "figures_stored": kept})
    return 0
