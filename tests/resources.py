"""What tests and benchmarks create on the shared services, and deleting all of it afterwards.

Every Kafka topic, consumer group and Postgres schema a test or a benchmark makes is named by
:func:`unique_name` (``<prefix>_<creation time, hex seconds>_<random>``) and registered with a
:class:`Resources`, which deletes everything it holds when it is closed: at the end of the
``with`` block or fixture, whether the test passed or failed, waiting for the broker and
Postgres to confirm (``AdminClient(...).delete_topics(...)`` only *requests* a deletion: when the client is
garbage-collected or the process exits before the futures resolve, the request is dropped,
which is how earlier runs left ``test_*`` topics behind).

What a killed run could not delete, :func:`sweep_stale` removes later: names in the
:func:`unique_name` form older than ``max_age_s`` (other people's tests on the same broker are
younger, so they are never touched). By hand::

    scripts/env.sh .venv/bin/python -m tests.resources            # list stale leftovers
    scripts/env.sh .venv/bin/python -m tests.resources --delete   # and delete them
    ... -m tests.resources --legacy [--delete]   # names from before this scheme (one-off)
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg2
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from loanstream.config import Settings
from loanstream.kafka.topics import ensure_topic

REPO = Path(__file__).resolve().parents[1]
MIGRATIONS_DIR = REPO / "include" / "sql" / "migrations"
STALE_AFTER_S = 6 * 3600  # no test or benchmark runs this long
_NAME = re.compile(r"^(?P<prefix>[a-z][a-z0-9_]*?)_(?P<born>[0-9a-f]{8})_(?P<rand>[0-9a-f]{6})$")
_GONE = {KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError.GROUP_ID_NOT_FOUND}


_MADE: set[str] = set()  # every unique_name of this process (see delete_named)


def unique_name(prefix: str) -> str:
    """``<prefix>_<now as 8 hex digits of seconds>_<6 random hex>``: unique, and datable.

    The name is remembered: :func:`delete_named` (run when the test session ends) deletes any
    topic, consumer group or schema of that name still there, whoever made it (the sink's
    group, a topic a DAG run created) and however the test ended.
    """
    name = f"{prefix}_{int(time.time()):08x}_{uuid.uuid4().hex[:6]}"
    _MADE.add(name)
    return name


def born(name: str) -> float | None:
    """When a :func:`unique_name` was made (epoch seconds), or None for other names."""
    match = _NAME.match(name)
    return int(match.group("born"), 16) if match else None


def _kafka_error(exc: BaseException) -> KafkaError | None:
    return exc.args[0] if isinstance(exc, KafkaException) and exc.args else None


def delete_topics(kafka_config: dict[str, Any], topics: list[str]) -> list[str]:
    """Delete ``topics`` and wait for the broker to confirm; problems, as text (gone is fine)."""
    if not topics:
        return []
    problems = []
    admin = AdminClient(kafka_config)  # kept alive until the answers arrive
    futures = admin.delete_topics(list(topics), operation_timeout=30)
    for topic, future in futures.items():
        try:
            future.result(timeout=60)
        except Exception as exc:  # noqa: BLE001 - reported, then the others are still deleted
            error = _kafka_error(exc)
            if error is None or error.code() not in _GONE:
                problems.append(f"topic {topic}: {exc}")
    return problems


def delete_groups(kafka_config: dict[str, Any], groups: list[str]) -> list[str]:
    """Delete consumer groups (a group a closing consumer still holds is retried for 30 s)."""
    if not groups:
        return []
    admin = AdminClient(kafka_config)
    pending, problems = list(groups), []
    deadline = time.monotonic() + 30
    while pending:
        retry = []
        for group, future in admin.delete_consumer_groups(pending, request_timeout=30).items():
            try:
                future.result(timeout=60)
            except Exception as exc:  # noqa: BLE001
                error = _kafka_error(exc)
                if error is not None and error.code() in _GONE:
                    continue
                if (
                    error is not None
                    and error.code() == KafkaError.NON_EMPTY_GROUP
                    and time.monotonic() < deadline
                ):
                    retry.append(group)
                else:
                    problems.append(f"consumer group {group}: {exc}")
        pending = retry
        if pending:
            time.sleep(1)
    return problems


def drop_schemas(pg_dsn: str, schemas: list[str]) -> list[str]:
    """``DROP SCHEMA ... CASCADE`` each (if it exists); problems, as text."""
    problems = []
    for schema in schemas:
        try:
            conn = psycopg2.connect(pg_dsn, connect_timeout=10)
            try:
                with conn, conn.cursor() as cur:
                    cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            finally:
                conn.close()
        except psycopg2.Error as exc:
            problems.append(f"schema {schema}: {str(exc).strip()}")
    return problems


def delete_subjects(registry_url: str, topics: list[str]) -> list[str]:
    """Delete the value subjects the producer registered for ``topics`` (soft, then for good);
    a topic nothing registered for has none. The problems, as text."""
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    from loanstream.kafka.registry import subject_for

    client = SchemaRegistryClient({"url": registry_url, "timeout": 10})
    try:
        existing = set(client.get_subjects())
    except Exception as exc:  # the registry is down: nothing of ours to delete there
        return [f"schema registry subjects ({type(exc).__name__})"]
    problems = []
    for subject in (subject_for(topic) for topic in topics):
        if subject not in existing:
            continue
        try:
            client.delete_subject(subject)
            client.delete_subject(subject, permanent=True)
        except SchemaRegistryError as exc:
            problems.append(f"subject {subject} ({exc.error_message})")
    return problems


def schema_dsn(pg_dsn: str, schema: str) -> str:
    """``pg_dsn`` with ``search_path`` set to ``schema``."""
    sep = "&" if "?" in pg_dsn else "?"
    return f"{pg_dsn}{sep}options={quote(f'-csearch_path={schema}')}"


class Resources:
    """Topics, consumer groups and schemas made for one test or benchmark; :meth:`close`
    deletes them all (``with Resources(settings) as res: ...``, or the ``resources`` fixture).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics: list[str] = []
        self.groups: list[str] = []
        self.schemas: list[str] = []

    def topic(self, prefix: str = "test", partitions: int = 3, **options: Any) -> str:
        """A new topic on the broker, deleted on close."""
        name = self.adopt_topic(unique_name(prefix))
        ensure_topic(
            self.settings.kafka_config(), name, partitions=partitions, use_rpk=False, **options
        )
        return name

    def adopt_topic(self, name: str) -> str:
        """A topic something else creates (a DAG run, a CLI): deleted on close too."""
        self.topics.append(name)
        return name

    def group(self, prefix: str = "g") -> str:
        """A consumer group name, deleted on close (the group exists once something uses it)."""
        name = unique_name(prefix)
        self.groups.append(name)
        return name

    def schema(self, apply: bool = True) -> str:
        """A new Postgres schema (with the loanstream tables unless ``apply`` is false); its
        DSN (``search_path`` set to it). Dropped on close."""
        from loanstream.store import migrations

        schema = unique_name("t")
        self.schemas.append(schema)
        conn = psycopg2.connect(self.settings.pg_dsn)
        try:
            with conn, conn.cursor() as cur:
                cur.execute(f"CREATE SCHEMA {schema}")
        finally:
            conn.close()
        dsn = schema_dsn(self.settings.pg_dsn, schema)
        if apply:
            conn = psycopg2.connect(dsn)
            try:
                migrations.migrate(conn, MIGRATIONS_DIR)
            finally:
                conn.close()
        return dsn

    def close(self) -> list[str]:
        """Delete everything registered (groups first: they may hold topics' offsets)."""
        config = self.settings.kafka_config()
        problems = delete_groups(config, self.groups) if self.groups else []
        problems += delete_topics(config, self.topics) if self.topics else []
        if self.topics:
            problems += delete_subjects(self.settings.schema_registry_url, self.topics)
        problems += drop_schemas(self.settings.pg_dsn, self.schemas) if self.schemas else []
        self.topics, self.groups, self.schemas = [], [], []
        for problem in problems:
            print(f"cleanup: could not delete {problem}", file=sys.stderr)
        return problems

    def __enter__(self) -> Resources:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def resources(settings: Settings) -> Iterator[Resources]:
    with Resources(settings) as res:
        yield res


def existing(settings: Settings, wanted: Any) -> dict[str, list[str]]:
    """Topics, consumer groups and schemas on the services whose names ``wanted(name)``."""
    admin = AdminClient(settings.kafka_config())
    topics = [t for t in admin.list_topics(timeout=10).topics if wanted(t)]
    listed = admin.list_consumer_groups(request_timeout=10).result(timeout=20)
    groups = [g.group_id for g in listed.valid if wanted(g.group_id)]
    conn = psycopg2.connect(settings.pg_dsn, connect_timeout=10)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT nspname FROM pg_namespace")
            schemas = [name for (name,) in cur.fetchall() if wanted(name)]
    finally:
        conn.close()
    return {"topics": sorted(topics), "groups": sorted(groups), "schemas": sorted(schemas)}


def stale(settings: Settings, max_age_s: float = STALE_AFTER_S) -> dict[str, list[str]]:
    """Leftovers in the :func:`unique_name` form older than ``max_age_s``."""
    cutoff = time.time() - max_age_s
    return existing(settings, lambda name: (when := born(name)) is not None and when < cutoff)


def delete_found(settings: Settings, found: dict[str, list[str]]) -> list[str]:
    res = Resources(settings)
    res.topics, res.groups, res.schemas = found["topics"], found["groups"], found["schemas"]
    return res.close()


def sweep_stale(settings: Settings, max_age_s: float = STALE_AFTER_S) -> dict[str, list[str]]:
    """Delete what :func:`stale` finds; returns what was found."""
    found = stale(settings, max_age_s)
    delete_found(settings, found)
    return found


def delete_named(settings: Settings) -> dict[str, list[str]]:
    """Delete every topic, consumer group and schema named by this process's
    :func:`unique_name` calls that still exists; returns what was found."""
    if not _MADE:
        return {"topics": [], "groups": [], "schemas": []}
    found = existing(settings, _MADE.__contains__)
    delete_found(settings, found)
    return found


# names the helpers gave before unique_name carried a time: <prefix>_<8 or 10 hex digits>
# (also test-<test name>-<8 hex> from the unique_topic fixture, smoke-<8 hex>)
_LEGACY = re.compile(r"^(?:[a-z][a-z0-9_]*_[0-9a-f]{10}|bench_[a-z0-9_]+_[0-9a-f]{8}"
                     r"|test-[A-Za-z0-9._-]+-[0-9a-f]{8}|smoke-[0-9a-f]{8})$")  # fmt: skip


def legacy(settings: Settings) -> dict[str, list[str]]:
    """Leftovers named the old way (no creation time): only for a one-off clean-up by hand,
    when nobody else's tests are running (their age cannot be told)."""
    return existing(settings, lambda name: bool(_LEGACY.match(name)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Test/bench leftovers on the shared services.")
    parser.add_argument("--delete", action="store_true", help="delete them (default: list)")
    parser.add_argument("--max-age-hours", type=float, default=STALE_AFTER_S / 3600)
    parser.add_argument(
        "--legacy",
        action="store_true",
        help="old-style names (no creation time) instead: run only when no tests are running",
    )
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.legacy:
        found = legacy(settings)
        if args.delete:
            delete_found(settings, found)
    else:
        act = sweep_stale if args.delete else stale
        found = act(settings, args.max_age_hours * 3600)
    for kind, names in found.items():
        print(f"{kind}: {len(names)}{' deleted' if args.delete else ''} {' '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
