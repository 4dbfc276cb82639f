"""``loanstream dead-letters list|replay``: see the dead letters, and score them again.

    loanstream dead-letters list   [--run-id R] [--reason TEXT] [--limit N] [--all]
    loanstream dead-letters replay [--run-id R] [--reason TEXT] [--id N ...] [--limit N]

``--reason`` matches a case-insensitive part of the error. ``list`` prints the counts by reason
and the latest matching dead letters (raw values shown escaped), ``replay`` scores the open
ones matching every filter with the current code and rules (``loanstream.sink.redrive``).
The last line is JSON.
"""

from __future__ import annotations

import argparse
import logging
import os

import psycopg2

from loanstream.commands._common import print_json
from loanstream.config import Settings
from loanstream.monitoring.queries import dead_letters
from loanstream.sink.errors import SinkError
from loanstream.sink.redrive import RedriveError, RedriveResult, Selection, redrive
from loanstream.store.connect import first_line, pg_connect
from loanstream.store.migrations import SchemaBehindError, check

log = logging.getLogger("loanstream.sink.redrive")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("dead-letters", help="list dead letters, or score them again")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (("list", "counts by reason and the latest dead letters"),
                       ("replay", "score open dead letters again (exactly once)")):  # fmt: skip
        a = actions.add_parser(name, help=text)
        a.add_argument("--run-id", default=None, help="only this pipeline run's")
        a.add_argument("--reason", default=None,
                       help="only those whose error contains TEXT (case-insensitive)")  # fmt: skip
        a.add_argument("--limit", type=int, default=20 if name == "list" else 10_000,
                       help="most dead letters to show / replay (%(default)s)")  # fmt: skip
        if name == "list":
            a.add_argument("--all", action="store_true", help="resolved ones too")
        else:
            a.add_argument("--id", type=int, action="append", dest="ids", default=None,
                           help="only this dead letter (repeatable)")  # fmt: skip
        a.set_defaults(func=run)


def _connect(dsn: str):  # noqa: ANN202 - a psycopg2 connection
    return pg_connect(dsn, application_name="loanstream-dead-letters")


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    try:
        selection = Selection.of(args.run_id, args.reason, getattr(args, "ids", None), args.limit)
    except RedriveError as exc:
        log.error("%s; nothing was read", exc)
        print_json({"error": str(exc)})
        return 2
    try:
        conn = _connect(settings.pg_dsn)
        try:
            check(conn, settings.migrations_dir)  # raises SchemaBehindError (what to run)
            if args.action == "list":
                found = dead_letters(conn, run_id=selection.run_id, reason=selection.reason,
                                     limit=min(selection.limit, 500), open_only=not args.all)  # fmt: skip
        finally:
            conn.close()
        if args.action == "list":
            for item in found["reasons"]:
                print(f"{item['count']:>8}  {item['reason']!a}")
            for dl in found["examples"]:
                state = "resolved" if dl["resolved_at"] else "open"
                print(f"#{dl['id']} run {dl['run_id']!a} {dl['topic']}[{dl['partition']}]@"
                      f"{dl['offset']} {state}: {dl['error']!a}; raw "
                      f"{dl['raw_preview'][:200]!a}")  # fmt: skip
            print_json({"run_id": selection.run_id, "reason": selection.reason,
                        "open_by_reason": {r["reason"]: r["count"] for r in found["reasons"]},
                        "shown": len(found["examples"]),
                        "ids": [dl["id"] for dl in found["examples"]]})  # fmt: skip
            return 0

        def progress(result: RedriveResult) -> None:
            log.info("%s", result.human_line())

        result = redrive(lambda: _connect(settings.pg_dsn), selection, progress=progress,
                         resolved_by=f"{_os_user()} (loanstream CLI)")  # fmt: skip
    except SchemaBehindError as exc:
        log.error("%s; nothing was read", exc)
        print_json({"error": str(exc)})
        return 1
    except SinkError as exc:  # the schema registry, for a framed dead letter's new id
        log.error("%s", exc)
        print_json({"error": str(exc)})
        return 1
    except psycopg2.Error as exc:
        log.error("Postgres failed (%s): nothing was changed by the unfinished batch; "
                  "run the same command again, it resumes", first_line(exc))  # fmt: skip
        print_json({"error": first_line(exc)})
        return 1
    log.info("%s", result.human_line())
    print_json(result.to_dict())
    return 0


def _os_user() -> str:
    """The name of the user running the command (who a CLI redrive records)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container's)
        return f"uid {os.getuid()}"
