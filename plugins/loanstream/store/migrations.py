"""Versioned schema migrations: ``include/sql/migrations/NNNN_name.sql``, each applied once.

The files are numbered from 0001 without gaps; the number is the version. ``migrate`` applies
the pending ones in order, under one Postgres advisory lock (two ``make up`` or CLI runs at
once wait for each other), each file in its own transaction together with its row in
``schema_migrations`` (version, name, checksum, applied_at): a failing file leaves nothing of
itself behind and the database at the version before it. An applied file whose text changed
since (its checksum differs) is refused with a clear error: migrations are append-only.

The code that uses the tables (the sink, the producer's run ledger) never applies DDL: it asks
``check`` once at start, one cheap query, and fails with "run `loanstream schema migrate`" if
the database is behind the newest file it ships. ``make up`` migrates the stack's database;
tests and benchmarks that make private schemas call ``migrate`` on them.

Migration files are trusted DDL from the project's own ``include/sql/migrations`` (never a
user's path): they are executed as read.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.errors

from loanstream.store.connect import first_line

log = logging.getLogger(__name__)

MIGRATION_LOCK_ID = 74_210_001  # pg advisory lock serialising schema changes
FILE_PATTERN = re.compile(r"^(\d{4})_([a-z0-9][a-z0-9_]*)\.sql$")
MIGRATE_HINT = "run `loanstream schema migrate` (make up does)"

_LOCK_SQL = "SELECT pg_advisory_lock(%s)"
_UNLOCK_SQL = "SELECT pg_advisory_unlock(%s)"
_CREATE_TABLE_SQL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY CHECK (version > 0),
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""
_EXISTS_SQL = "SELECT to_regclass('schema_migrations') IS NOT NULL"
_APPLIED_SQL = "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version"
_RECORD_SQL = "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)"
_CURRENT_SQL = "SELECT max(version) FROM schema_migrations"


class MigrationError(RuntimeError):
    """The migrations cannot be read or applied; the message says which file and what to do."""


class SchemaBehindError(MigrationError):
    """The database is at an older version than the code needs."""


def label(version: int) -> str:
    """``0001``; version 0 is a database without any recorded migration."""
    return f"{version:04d}" if version else "0000 (no migrations recorded)"


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    path: Path

    @property
    def filename(self) -> str:
        return self.path.name

    def sql(self) -> str:
        """The file's text (line endings normalised: a CRLF checkout has the same checksum)."""
        return self.path.read_text(encoding="utf-8").replace("\r\n", "\n")

    def checksum(self) -> str:
        return hashlib.sha256(self.sql().encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Applied:
    """One row of ``schema_migrations``."""

    version: int
    name: str
    checksum: str
    applied_at: datetime | None = None


@dataclass(frozen=True)
class SchemaStatus:
    """Where a database stands against the migration files."""

    current: int
    latest: int
    applied: list[Applied] = field(default_factory=list)
    pending: list[Migration] = field(default_factory=list)
    newer: list[Applied] = field(default_factory=list)  # applied, but no file here (newer code)

    @property
    def up_to_date(self) -> bool:
        return not self.pending

    def to_dict(self) -> dict[str, Any]:
        return {
            "current": label(self.current) if self.current else None,
            "latest": label(self.latest),
            "up_to_date": self.up_to_date,
            "applied": [
                {"version": label(a.version), "name": a.name, "applied_at": a.applied_at}
                for a in self.applied
            ],
            "pending": [m.filename for m in self.pending],
            "newer": [f"{label(a.version)}_{a.name}" for a in self.newer],
        }


def discover(directory: Path) -> list[Migration]:
    """The migration files of ``directory`` in order; a misnamed file, a duplicate or a gap in
    the numbering is an error naming it."""
    if not directory.is_dir():
        raise MigrationError(f"migrations directory {directory} does not exist")
    found: dict[int, Migration] = {}
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or path.name.lower() == "readme.md":
            continue
        match = FILE_PATTERN.match(path.name)
        if match is None or not path.is_file():
            raise MigrationError(
                f"{path}: not a migration file name (want NNNN_name.sql: four digits, then "
                "lower-case letters, digits and underscores)"
            )
        version = int(match.group(1))
        if version in found:
            raise MigrationError(
                f"{path.name} and {found[version].filename} have the same version {label(version)}: "
                "renumber the newer one"
            )
        found[version] = Migration(version, match.group(2), path)
    if not found:
        raise MigrationError(f"no migration files in {directory}")
    for expected, version in enumerate(sorted(found), start=1):
        if version != expected:
            raise MigrationError(
                f"migration {label(expected)} is missing in {directory} (found "
                f"{found[version].filename} after it): versions run 0001, 0002, ... without gaps"
            )
    return [found[v] for v in sorted(found)]


def latest_version(directory: Path) -> int:
    """The newest version in ``directory`` (what this code needs)."""
    return discover(directory)[-1].version


def applied(conn: Any) -> list[Applied]:
    """The rows of ``schema_migrations`` (none if the table does not exist yet)."""
    with conn, conn.cursor() as cur:
        cur.execute(_EXISTS_SQL)
        if not cur.fetchone()[0]:
            return []
        cur.execute(_APPLIED_SQL)
        return [Applied(*row) for row in cur.fetchall()]


def status(conn: Any, directory: Path) -> SchemaStatus:
    """Compare the database with the files; an applied file that changed is an error."""
    migrations = discover(directory)
    rows = applied(conn)
    by_version = {m.version: m for m in migrations}
    for row in rows:
        migration = by_version.get(row.version)
        if migration is not None and migration.checksum() != row.checksum:
            raise MigrationError(
                f"{migration.path} changed after it was applied (checksum {row.checksum[:12]} "
                f"recorded at {row.applied_at}, the file is {migration.checksum()[:12]} now): "
                "an applied migration must not be edited. Restore the file (git checkout) and "
                "put the change in a new migration with the next number"
            )
    done = {row.version for row in rows}
    return SchemaStatus(
        current=max(done, default=0),
        latest=migrations[-1].version,
        applied=rows,
        pending=[m for m in migrations if m.version not in done],
        newer=[row for row in rows if row.version not in by_version],
    )


def migrate(conn: Any, directory: Path) -> tuple[SchemaStatus, list[Migration]]:
    """Apply the pending migrations of ``directory`` in order; returns the status after and
    the migrations applied now. One advisory lock around all of it; each file in its own
    transaction with its ``schema_migrations`` row."""
    started = time.perf_counter()
    autocommit = conn.autocommit
    conn.autocommit = False  # `with conn` must be a transaction: a file is applied whole or not
    with conn, conn.cursor() as cur:
        cur.execute(_LOCK_SQL, (MIGRATION_LOCK_ID,))  # session lock: held across transactions
    done: list[Migration] = []
    try:
        with conn, conn.cursor() as cur:
            cur.execute(_CREATE_TABLE_SQL)
        before = status(conn, directory)
        current = before.current
        for migration in before.pending:
            checksum = migration.checksum()
            step = time.perf_counter()
            try:
                with conn, conn.cursor() as cur:
                    cur.execute(migration.sql())  # trusted DDL from include/sql/migrations
                    cur.execute(_RECORD_SQL, (migration.version, migration.name, checksum))
            except psycopg2.Error as exc:
                raise MigrationError(
                    f"migration {migration.path} failed ({first_line(exc)}); nothing of it was "
                    f"applied, the database stays at {label(current)}. Fix the file and run "
                    "`loanstream schema migrate` again"
                ) from exc
            current = migration.version
            done.append(migration)
            log.info(
                "schema: applied %s in %.2fs", migration.filename, time.perf_counter() - step
            )
        after = status(conn, directory)
    finally:
        if not conn.closed:
            try:
                conn.rollback()
                with conn, conn.cursor() as cur:
                    cur.execute(_UNLOCK_SQL, (MIGRATION_LOCK_ID,))
            except psycopg2.Error:
                conn.close()  # closing the session releases its lock
            else:
                conn.autocommit = autocommit
    if after.newer:
        log.warning(
            "schema: the database has migrations this code does not ship (%s): newer code "
            "migrated it",
            ", ".join(f"{label(a.version)}_{a.name}" for a in after.newer),
        )
    log.info(
        "schema: at %s (%d applied now, %d before) in %.2fs",
        label(after.current), len(done), len(before.applied), time.perf_counter() - started,
    )  # fmt: skip
    return after, done


def check(conn: Any, directory: Path) -> int:
    """The database's version, or ``SchemaBehindError`` if it is older than the newest file
    of ``directory``. One query (the files are only listed, not read)."""
    required = latest_version(directory)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(_CURRENT_SQL)
            current = int(cur.fetchone()[0] or 0)
    except psycopg2.errors.UndefinedTable:
        current = 0
    if current < required:
        raise SchemaBehindError(
            f"database schema at {label(current)}, this code needs {label(required)}: "
            f"{MIGRATE_HINT}"
        )
    return current
