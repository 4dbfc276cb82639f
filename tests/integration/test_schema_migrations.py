"""Schema migrations on the real Postgres, each test in a private schema: applied once, in
order, under one lock; an old database (made by the former schema.sql) is recorded as at 0001;
an edited applied file and a failing file are clear errors; the sink, the run ledger and the
CLI say "run `loanstream schema migrate`" when the database is behind."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import psycopg2
import pytest

from loanstream.cli import main
from loanstream.sink import ScoringSink, SinkError
from loanstream.store import migrations
from loanstream.store.ledger import LedgerError, RunLedger
from tests.helpers import query
from tests.resources import MIGRATIONS_DIR

pytestmark = pytest.mark.integration

TABLES = ("consumer_offsets", "dead_letters", "run_ledger", "run_partitions", "risk_decisions")
VIEWS = ("risk_scored",)  # the current decision of each loan (migration 0005)


def migrate(dsn: str, directory: Path = MIGRATIONS_DIR) -> tuple[migrations.SchemaStatus, list]:
    conn = psycopg2.connect(dsn)
    try:
        return migrations.migrate(conn, directory)
    finally:
        conn.close()


def check(dsn: str, directory: Path = MIGRATIONS_DIR) -> int:
    conn = psycopg2.connect(dsn)
    try:
        return migrations.check(conn, directory)
    finally:
        conn.close()


def tables(dsn: str) -> set[str]:
    rows = query(dsn, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    return {name for (name,) in rows}


def copy_of_shipped(tmp_path: Path) -> Path:
    target = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, target)
    return target


def test_fresh_schema_migrates_once_and_then_checks(resources) -> None:
    dsn = resources.schema(apply=False)
    needs = migrations.label(migrations.latest_version(MIGRATIONS_DIR))
    with pytest.raises(migrations.SchemaBehindError, match=r"database schema at 0000 .*this code "
                       rf"needs {needs}: run `loanstream schema migrate` \(make up does\)"):  # fmt: skip
        check(dsn)
    latest = migrations.latest_version(MIGRATIONS_DIR)
    state, done = migrate(dsn)
    assert [m.version for m in done] == list(range(1, latest + 1))
    assert state.current == latest and state.up_to_date and not state.pending
    assert set(TABLES) | {"schema_migrations"} <= tables(dsn)
    assert set(VIEWS) <= {name for (name,) in query(
        dsn, "SELECT viewname FROM pg_views WHERE schemaname = current_schema()")}  # fmt: skip
    rows = query(dsn, "SELECT version, name, length(checksum) FROM schema_migrations")
    assert rows[0] == (1, "initial", 64)
    state, done = migrate(dsn)  # nothing left to do
    assert done == [] and len(state.applied) == latest
    assert check(dsn) == latest


def test_an_old_database_made_by_schema_sql_is_recorded_at_0001(resources) -> None:
    """What the former include/sql/schema.sql made (0001's statements, no schema_migrations),
    with a scored row in it: migrate records 0001 without an error and keeps the row."""
    dsn = resources.schema(apply=False)
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute((MIGRATIONS_DIR / "0001_initial.sql").read_text())
            cur.execute(
                "INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset) "
                "VALUES ('g', 't', 0, 42)"
            )
    finally:
        conn.close()
    state, done = migrate(dsn)
    assert done[0].filename == "0001_initial.sql" and state.up_to_date
    assert query(dsn, "SELECT next_offset FROM consumer_offsets") == [(42,)]


def test_two_migrations_at_once_apply_each_file_once(resources) -> None:
    dsn = resources.schema(apply=False)
    results: list[object] = []

    def run() -> None:
        try:
            results.append(migrate(dsn)[1])
        except Exception as exc:  # noqa: BLE001 - the assertion below shows it
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(isinstance(r, list) for r in results), results
    latest = migrations.latest_version(MIGRATIONS_DIR)
    assert sorted(len(r) for r in results) == [0, 0, latest]  # type: ignore[arg-type]


def test_an_edited_applied_migration_is_refused(resources, tmp_path: Path) -> None:
    directory = copy_of_shipped(tmp_path)
    dsn = resources.schema(apply=False)
    migrate(dsn, directory)
    first = directory / "0001_initial.sql"
    first.write_text(first.read_text() + "\n-- an edit after the fact\n")
    changed = r"0001_initial.sql changed after it was applied .*new migration with the next number"
    with pytest.raises(migrations.MigrationError, match=changed):
        migrate(dsn, directory)
    conn = psycopg2.connect(dsn)
    try:
        with pytest.raises(migrations.MigrationError, match=changed):
            migrations.status(conn, directory)
    finally:
        conn.close()


def test_pending_and_failing_migrations(resources, tmp_path: Path) -> None:
    """A newer file: the database is behind until migrated. A failing file: nothing of it is
    applied, the database stays where it was, the error names the file."""
    directory = copy_of_shipped(tmp_path)
    dsn = resources.schema()  # at the shipped version
    shipped = migrations.latest_version(MIGRATIONS_DIR)
    nxt = shipped + 1
    (directory / f"{nxt:04d}_add_note.sql").write_text(
        "CREATE TABLE IF NOT EXISTS note (id int);\nALTER TABLE note ADD COLUMN body text;\n"
    )
    with pytest.raises(migrations.SchemaBehindError, match=f"at {shipped:04d}, this code needs {nxt:04d}"):
        check(dsn, directory)
    (directory / f"{nxt + 1:04d}_broken.sql").write_text(
        "CREATE TABLE half_done (id int);\nSELECT no_such_column FROM note;\n"
    )
    with pytest.raises(migrations.MigrationError, match=rf"{nxt + 1:04d}_broken.sql failed .*"
                       rf"stays at {nxt:04d}"):  # fmt: skip
        migrate(dsn, directory)
    assert "note" in tables(dsn) and "half_done" not in tables(dsn)
    conn = psycopg2.connect(dsn)
    try:
        assert migrations.status(conn, directory).current == nxt
    finally:
        conn.close()
    # the lock was released: another migrate does not wait
    (directory / f"{nxt + 1:04d}_broken.sql").write_text("CREATE TABLE half_done (id int);\n")
    state, done = migrate(dsn, directory)
    assert [m.version for m in done] == [nxt + 1] and state.up_to_date


def test_a_failing_file_leaves_nothing_even_on_an_autocommit_connection(
    resources, tmp_path: Path
) -> None:
    directory = tmp_path / "m"
    directory.mkdir()
    (directory / "0001_first.sql").write_text("CREATE TABLE first_table (id int);\n")
    (directory / "0002_broken.sql").write_text(
        "CREATE TABLE half_done (id int);\nSELECT no_such_column FROM first_table;\n"
    )
    dsn = resources.schema(apply=False)
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with pytest.raises(migrations.MigrationError, match="0002_broken.sql failed"):
            migrations.migrate(conn, directory)
        assert conn.autocommit is True
    finally:
        conn.close()
    assert tables(dsn) == {"first_table", "schema_migrations"}
    assert query(dsn, "SELECT version FROM schema_migrations") == [(1,)]


def test_sink_and_ledger_refuse_a_database_behind(resources, live_settings) -> None:
    dsn = resources.schema(apply=False)
    topic = resources.topic("mig", partitions=1)
    sink = ScoringSink(live_settings.kafka_config(), dsn, topic, group=resources.group())
    with pytest.raises(SinkError, match=r"database schema at 0000 .*run `loanstream schema "
                       r"migrate` \(make up does\)"):  # fmt: skip
        sink.run(idle_timeout=1)
    ledger = RunLedger(lambda: psycopg2.connect(dsn), "run-1", topic)
    needs = migrations.label(migrations.latest_version(MIGRATIONS_DIR))
    with pytest.raises(LedgerError, match=f"this code needs {needs}: run `loanstream schema migrate`"):
        ledger.check_schema(MIGRATIONS_DIR)
    migrate(dsn)
    assert ledger.check_schema(MIGRATIONS_DIR) >= 1
    assert tables(dsn) >= set(TABLES), "the sink created nothing itself"


def test_cli_status_and_migrate(resources, monkeypatch, capsys) -> None:
    dsn = resources.schema(apply=False)
    monkeypatch.setenv("LOANSTREAM_PG_DSN", dsn)
    assert main(["schema"]) == 0
    status = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert status["action"] == "status" and status["current"] is None
    assert status["up_to_date"] is False and status["pending"][0] == "0001_initial.sql"
    assert main(["schema", "migrate"]) == 0
    done = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert done["applied_now"][0] == "0001_initial.sql" and done["up_to_date"] is True
    assert done["current"] == done["latest"] and "password" not in json.dumps(done).lower()
    assert main(["schema", "migrate"]) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["applied_now"] == [] and again["applied"][0]["version"] == "0001"
