"""The migration files: how they are found, numbered and checksummed (no database here;
tests/integration/test_migrations.py applies them to a real Postgres)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loanstream.config import Settings
from loanstream.store import migrations

pytestmark = pytest.mark.unit

SHIPPED = Settings().migrations_dir


def write(directory: Path, *names: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).write_text(f"-- {name}\nSELECT 1;\n")
    return directory


def test_shipped_migrations_start_at_0001_and_are_the_only_schema_definition() -> None:
    found = migrations.discover(SHIPPED)
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    assert found[0].filename == "0001_initial.sql"
    assert not (SHIPPED.parent / "schema.sql").exists(), "one definition: the migrations"
    assert migrations.latest_version(SHIPPED) == found[-1].version


def test_0001_is_idempotent_so_an_old_database_records_it() -> None:
    """A database made by the old schema.sql holds 0001 already: every statement of 0001 must
    be a no-op there (IF NOT EXISTS / OR REPLACE / IF EXISTS)."""
    text = (SHIPPED / "0001_initial.sql").read_text()
    for statement in ("CREATE TABLE ", "CREATE INDEX ", "ADD COLUMN ", "DROP INDEX ", "DROP TRIGGER "):
        for line in text.splitlines():
            if statement in line and not line.lstrip().startswith("--"):
                assert "IF NOT EXISTS" in line or "IF EXISTS" in line, line


def test_discover_orders_by_version(tmp_path: Path) -> None:
    directory = write(tmp_path, "0002_more.sql", "0001_first.sql", "0003_dead_letter_redrive.sql")
    (directory / "README.md").write_text("notes")
    found = migrations.discover(directory)
    assert [(m.version, m.name) for m in found] == [
        (1, "first"), (2, "more"), (3, "dead_letter_redrive"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("names", "complaint"),
    [
        (["0001_first.sql", "0001_other.sql"], "have the same version 0001"),
        (["0001_first.sql", "0003_third.sql"], "migration 0002 is missing"),
        (["0002_second.sql"], "migration 0001 is missing"),
        (["0001_first.sql", "2_second.sql"], "not a migration file name"),
        (["0001_first.sql", "0002_Second.sql"], "not a migration file name"),
        (["0001_first.sql", "0002_second.sql.bak"], "not a migration file name"),
        ([], "no migration files"),
    ],
)
def test_discover_refuses_a_bad_set(tmp_path: Path, names: list[str], complaint: str) -> None:
    directory = write(tmp_path / "m", *names)
    with pytest.raises(migrations.MigrationError, match=complaint):
        migrations.discover(directory)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(migrations.MigrationError, match="does not exist"):
        migrations.discover(tmp_path / "nowhere")


def test_checksum_ignores_line_endings_only(tmp_path: Path) -> None:
    lf, crlf, other = tmp_path / "0001_a.sql", tmp_path / "0002_b.sql", tmp_path / "0003_c.sql"
    lf.write_bytes(b"CREATE TABLE t (a int);\nSELECT 1;\n")
    crlf.write_bytes(b"CREATE TABLE t (a int);\r\nSELECT 1;\r\n")
    other.write_bytes(b"CREATE TABLE t (a bigint);\nSELECT 1;\n")
    a, b, c = migrations.discover(tmp_path)
    assert a.checksum() == b.checksum() != c.checksum()
    assert len(a.checksum()) == 64


def test_labels() -> None:
    assert migrations.label(1) == "0001"
    assert migrations.label(12) == "0012"
    assert migrations.label(0).startswith("0000 (no migrations")
