"""``loanstream schema [status|migrate]``: where the database stands, and bring it up to date.

``status`` (the default) lists the applied and pending migrations of include/sql/migrations;
``migrate`` applies the pending ones (``loanstream.store.migrations``; ``make up`` runs it).
"""

from __future__ import annotations

import argparse
import logging

import psycopg2

from loanstream.commands._common import print_json
from loanstream.config import Settings, redact_dsn
from loanstream.store import migrations
from loanstream.store.connect import first_line, pg_connect

log = logging.getLogger("loanstream.schema")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "schema", help="schema migrations: status (default), or migrate (apply the pending ones)"
    )
    p.add_argument("action", nargs="?", choices=["status", "migrate"], default="status")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    dsn = redact_dsn(settings.pg_dsn)
    try:
        conn = pg_connect(settings.pg_dsn, application_name="loanstream-schema")
    except psycopg2.OperationalError as exc:
        message = (
            f"cannot connect to Postgres at {dsn} ({first_line(exc)}); start it (`make up`) "
            "or fix LOANSTREAM_PG_DSN"
        )
        log.error("%s", message)
        print_json({"action": args.action, "error": message, "dsn": dsn})
        return 1
    try:
        if args.action == "migrate":
            state, done = migrations.migrate(conn, settings.migrations_dir)
            result = {"action": "migrate", "applied_now": [m.filename for m in done]}
        else:
            state = migrations.status(conn, settings.migrations_dir)
            result = {"action": "status"}
            for migration in state.pending:
                log.info("%s pending", migration.filename)
            log.info(
                "database at %s, code at %s%s", migrations.label(state.current),
                migrations.label(state.latest),
                "" if state.up_to_date else f": {migrations.MIGRATE_HINT}",
            )  # fmt: skip
    except (migrations.MigrationError, psycopg2.Error) as exc:
        message = str(exc) if isinstance(exc, migrations.MigrationError) else first_line(exc)
        log.error("%s", message)
        print_json({"action": args.action, "error": message, "dsn": dsn})
        return 1
    finally:
        conn.close()
    print_json({**result, **state.to_dict(), "dsn": dsn})
    return 0
