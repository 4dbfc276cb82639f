"""``loanstream schema``: apply include/sql/schema.sql (idempotent)."""

from __future__ import annotations

import argparse

import psycopg2

from loanstream.commands._common import print_json
from loanstream.config import Settings, redact_dsn
from loanstream.sink import apply_schema


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("schema", help="create the loanstream tables (safe to repeat)")
    p.set_defaults(func=run)


def run(_args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    path = settings.sql_dir / "schema.sql"
    conn = psycopg2.connect(settings.pg_dsn, connect_timeout=10)
    try:
        apply_schema(conn, path)  # its own transaction
    finally:
        conn.close()
    print_json({"applied": str(path), "dsn": redact_dsn(settings.pg_dsn)})
    return 0
