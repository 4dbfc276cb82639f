"""Exactly-once sink: Kafka events scored into Postgres ``risk_scored``.

How exactly-once holds, even when the process is killed at any instant:

* auto-commit is off; each partition starts from the offset stored in Postgres
  ``consumer_offsets`` (or the partition's beginning the first time);
* each batch is written in ONE transaction: scored rows (COPY straight into ``risk_scored``
  inside a savepoint; if a loan id is already stored, rolled back and COPYed into a staging
  table, then upserted by loan id), dead letters, and the partition's next offset. The offset
  row is locked and compared with where this consumer started the batch, so a second consumer
  working the same partition (a zombie task) is fenced off instead of writing twice;
* batches are stored one at a time, in order, by a writer thread while the next batch is
  consumed and scored; a batch counts (stats, Kafka commit) only once its transaction did;
* the Kafka commit comes after the database commit and is only advisory (it feeds lag
  metrics and the sensor); a crash between the two re-reads events whose offsets Postgres
  already holds, and they are skipped by position.

Plain events are scored by the native scorer (``loanstream.native``), the rest in Python
(``score_message``), with the same rows either way. Events that cannot be parsed or scored go
to ``dead_letters`` in the same transaction, whole (raw bytes) with the reason, and the
consumer goes on. With ``republish_topic`` each scored event is also produced (idempotent
producer, keyed by loan id) and acknowledged *before* the database commit: at-least-once into
that topic, with source topic/partition/offset headers for de-duplication downstream.
"""

from __future__ import annotations

import csv
import io
import logging
import operator
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psycopg2
import psycopg2.errors
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from loanstream.config import redact_dsn
from loanstream.native import NativeScoringUnavailable, load_batch_scorer
from loanstream.scoring import ScoringError, apply_rules, load_rules, preprocess_event
from loanstream.topics import TopicError, topic_partitions

log = logging.getLogger(__name__)

SCHEMA_LOCK_ID = 74_210_001  # pg advisory lock serialising schema creation

FEATURE_COLUMNS = (
    "loan_id", "loan_amnt", "term_months", "int_rate", "annual_inc", "dti", "revol_util",
    "emp_length_years", "credit_history_months", "fico", "inq_last_6mths", "delinq_2yrs",
    "pub_rec", "home_ownership", "purpose",
)  # fmt: skip
SCORE_COLUMNS = ("risk_score", "risk_band", "decision", "reasons", "rules_version")
META_COLUMNS = ("event_time", "run_id", "src_topic", "src_partition", "src_offset")
ROW_COLUMNS = FEATURE_COLUMNS + SCORE_COLUMNS + META_COLUMNS
_BAND = operator.itemgetter(ROW_COLUMNS.index("risk_band"))
_DECISION = operator.itemgetter(ROW_COLUMNS.index("decision"))

_COLS = ", ".join(ROW_COLUMNS)
_UPDATES = ", ".join(f"{c} = EXCLUDED.{c}" for c in ROW_COLUMNS if c != "loan_id")
UPSERT_SQL = f"""
INSERT INTO risk_scored ({_COLS}, scored_at)
SELECT DISTINCT ON (loan_id) {_COLS}, now() FROM risk_scored_stage
ORDER BY loan_id, src_partition DESC, src_offset DESC
ON CONFLICT (loan_id) DO UPDATE SET {_UPDATES}, scored_at = now()
RETURNING (xmax = 0) AS inserted
"""  # noqa: S608 - column names are constants of this module
STAGE_SQL = (
    "CREATE TEMP TABLE IF NOT EXISTS risk_scored_stage "
    "(LIKE risk_scored INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
COPY_SQL = f"COPY risk_scored_stage ({_COLS}) FROM STDIN WITH (FORMAT csv)"
# New loans (the common case) go straight into risk_scored: no stage, no upsert. A batch that
# repeats a stored loan id (a replay) or one twice fails on the primary key; it is rolled back
# to a savepoint and written by the upsert instead.
DIRECT_COPY_SQL = f"COPY risk_scored ({_COLS}) FROM STDIN WITH (FORMAT csv)"
COPY_CHUNK = 1 << 20  # bytes handed to libpq per call (psycopg2's default is 8 KiB)
# The fence and the new offsets, in one statement: lock the batch's partitions' offset rows (in
# partition order), move each one only if it still holds the offset this consumer started the
# batch at, and report every row as (partition, stored offset, moved). A row another consumer
# moved meanwhile is not moved here: the caller raises FencedError and the transaction rolls
# back. (Under READ COMMITTED the lock waits for that consumer's commit, then sees its offset.)
MOVE_OFFSETS_SQL = """
WITH fence AS (
    SELECT partition, next_offset FROM consumer_offsets
    WHERE consumer_group = %(group)s AND topic = %(topic)s AND partition = ANY(%(partitions)s)
    ORDER BY partition FOR UPDATE
), moved AS (
    UPDATE consumer_offsets AS c SET next_offset = t.next_offset, updated_at = now()
    FROM fence AS f,
         unnest(%(partitions)s::integer[], %(expected)s::bigint[], %(next)s::bigint[])
             AS t(partition, expected, next_offset)
    WHERE c.consumer_group = %(group)s AND c.topic = %(topic)s AND c.partition = f.partition
      AND t.partition = f.partition AND f.next_offset = t.expected
    RETURNING c.partition
)
SELECT f.partition, f.next_offset, m.partition IS NOT NULL
FROM fence AS f LEFT JOIN moved AS m USING (partition)
"""
DEAD_LETTER_SQL = (
    'INSERT INTO dead_letters (topic, partition, "offset", key, raw_value, error, run_id) '
    'VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (topic, partition, "offset") DO NOTHING'
)


class SinkError(RuntimeError):
    """The sink cannot go on; the message says why and what to do."""


class FencedError(SinkError):
    """Another consumer advanced this partition's stored offset: this one must stop."""


@dataclass
class SinkStats:
    """What a consume run did; ``to_dict()`` is the CLI's JSON line and the XCom value."""

    topic: str
    group: str
    partitions: list[int] = field(default_factory=list)
    consumed: int = 0
    scored: int = 0
    inserted: int = 0
    updated: int = 0
    dead_lettered: int = 0
    skipped_already_stored: int = 0
    republished: int = 0
    scored_natively: int = 0
    batches: int = 0
    seconds: float = 0.0
    bands: dict[str, int] = field(default_factory=dict)
    decisions: dict[str, int] = field(default_factory=dict)
    next_offsets: dict[int, int] = field(default_factory=dict)
    end_offsets: dict[int, int] = field(default_factory=dict)
    stopped_by: str = ""

    @property
    def eps(self) -> float:
        return self.consumed / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["eps"] = round(self.eps, 2)
        data["seconds"] = round(self.seconds, 3)
        data["next_offsets"] = {str(k): v for k, v in sorted(self.next_offsets.items())}
        data["end_offsets"] = {str(k): v for k, v in sorted(self.end_offsets.items())}
        return data


@dataclass
class _Batch:
    rows: list[tuple] = field(default_factory=list)  # scored in Python
    messages: list[Message] = field(default_factory=list)  # for the native scorer
    native_csv: bytes = b""  # rows the native scorer wrote, as CSV lines
    native_rows: int = 0
    native_scores: list[int] = field(default_factory=list)  # rows per risk_score 0..100
    dead: list[tuple] = field(default_factory=list)
    republish: list[tuple[str, bytes, list]] = field(default_factory=list)
    end: dict[int, int] = field(default_factory=dict)  # partition -> next offset after batch
    bands: Counter = field(default_factory=Counter)
    decisions: Counter = field(default_factory=Counter)

    @property
    def scored(self) -> int:
        return len(self.rows) + self.native_rows


def apply_schema(conn: Any, schema_path: Path) -> None:
    """Apply the idempotent schema, serialised by an advisory lock (mapped tasks start together)."""
    with conn, conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_ID,))
        cur.execute(schema_path.read_text())


def csv_lines(rows: Iterable[tuple]) -> str:
    """``risk_scored`` rows as the CSV text ``COPY ... WITH (FORMAT csv)`` reads (None -> NULL)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _kafka_text(raw: bytes) -> str:
    """Kafka key/header bytes as text Postgres can store: bad UTF-8 and NUL become U+FFFD."""
    return raw.decode("utf-8", "replace").replace("\x00", "\ufffd")


def _header(headers: list[tuple[str, bytes]] | None, name: str) -> str | None:
    for key, value in headers or ():
        if key == name and value is not None:
            return _kafka_text(value)
    return None


_FEATURE_VALUES = operator.attrgetter(*FEATURE_COLUMNS)  # one C call for the 15 columns
_reasons_json: dict[tuple[str, ...], str] = {}  # few distinct reason lists: dump each once


def _dump_reasons(reasons: list[str]) -> str:
    key = tuple(reasons)
    text = _reasons_json.get(key)
    if text is None:
        if len(_reasons_json) >= 4096:
            _reasons_json.clear()
        text = _reasons_json[key] = orjson.dumps(reasons).decode()
    return text


def score_message(
    msg: Message, rules: Any, *, payload: bool = True
) -> tuple[tuple, dict | None] | str:
    """One message -> (row for risk_scored, republish payload) or the dead-letter reason.

    With ``payload=False`` (no republishing) the payload is not built and is None.
    """
    value = msg.value()
    if not value:
        return "empty value"
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return f"not JSON: {exc}"
    if not isinstance(event, dict):
        return f"not a JSON object: got {type(event).__name__}"
    try:
        features = preprocess_event(event)
        score = apply_rules(features, rules)
    except ScoringError as exc:
        return str(exc)
    event_time = features.event_time.isoformat()
    row = (
        *_FEATURE_VALUES(features),
        score.risk_score, score.risk_band, score.decision,
        _dump_reasons(score.reasons), score.rules_version,
        event_time, _header(msg.headers(), "run_id"),
        msg.topic(), msg.partition(), msg.offset(),
    )  # fmt: skip
    if not payload:
        return row, None
    return row, {
        "loan_id": features.loan_id,
        "risk_score": score.risk_score,
        "risk_band": score.risk_band,
        "decision": score.decision,
        "reasons": list(score.reasons),
        "rules_version": score.rules_version,
        "event_time": event_time,
    }


class ScoringSink:
    """Consume ``topic`` (all or some partitions) into Postgres, exactly once, in batch mode."""

    def __init__(
        self,
        kafka_config: dict[str, Any],
        pg_dsn: str,
        topic: str,
        *,
        group: str = "loanstream-scorer",
        batch_size: int = 2000,
        batch_seconds: float = 1.0,
        republish_topic: str | None = None,
        schema_path: Path | None = None,
        rules_path: Path | None = None,
        progress_seconds: float = 5.0,
        native: str = "auto",
    ) -> None:
        self.kafka_config = dict(kafka_config)
        self.pg_dsn = pg_dsn
        self.topic = topic
        self.group = group
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self.republish_topic = republish_topic
        self.schema_path = schema_path
        self.rules = load_rules(rules_path) if rules_path else load_rules()
        self.progress_seconds = progress_seconds
        self._stop_requested = False
        self._direct_copy = True
        try:
            self._native, self.scoring_path = load_batch_scorer(self.rules, native)
        except (NativeScoringUnavailable, ValueError) as exc:
            raise SinkError(str(exc)) from None
        if republish_topic and self._native is not None:
            # the compiled scorer writes CSV only, not the JSON payload republishing needs
            self._native = None
            self.scoring_path = "Python (republishing builds a JSON payload per event)"
        self._band_of, self._decision_of = self.rules.score_table()

    def stop(self) -> None:
        """Ask a running ``run`` to finish its current batch and return (signal-safe)."""
        self._stop_requested = True

    # -- database -------------------------------------------------------------------------

    def _connect(self) -> Any:
        try:
            conn = psycopg2.connect(
                self.pg_dsn,
                connect_timeout=10,
                application_name="loanstream-sink",
                # a peer that vanished without a reset is noticed in ~25 s, not never
                keepalives=1,
                keepalives_idle=10,
                keepalives_interval=5,
                keepalives_count=3,
            )
        except psycopg2.OperationalError as exc:
            raise SinkError(
                f"cannot connect to Postgres ({str(exc).strip().splitlines()[0]}); start it "
                "(`make up`) or fix LOANSTREAM_PG_DSN / the loanstream_postgres connection"
            ) from None
        if self.schema_path:
            apply_schema(conn, self.schema_path)
        with conn, conn.cursor() as cur:
            cur.execute(STAGE_SQL)
        return conn

    def stored_offsets(
        self, conn: Any, partitions: Iterable[int], lows: dict[int, int]
    ) -> dict[int, int]:
        """Stored next offsets; a partition seen for the first time is registered at ``lows``.

        Registering makes every later batch lock an existing row, which is what fences a
        second consumer of the same partition.
        """
        with conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [(self.group, self.topic, p, lows[p]) for p in partitions],
            )
            cur.execute(
                "SELECT partition, next_offset FROM consumer_offsets "
                "WHERE consumer_group = %s AND topic = %s AND partition = ANY(%s)",
                (self.group, self.topic, list(partitions)),
            )
            return dict(cur.fetchall())

    def _write(self, conn: Any, batch: _Batch, stats: SinkStats) -> None:
        """One transaction: rows, dead letters, then the fence check that moves the offsets.

        Four round trips for a batch of new loans: BEGIN + SAVEPOINT, COPY, the offsets, COMMIT.
        """
        partitions = sorted(batch.end)
        inserted = 0
        with conn, conn.cursor() as cur:
            if batch.scored:
                buffer = io.BytesIO(batch.native_csv)
                buffer.seek(0, io.SEEK_END)
                if batch.rows:
                    buffer.write(csv_lines(batch.rows).encode())
                if self._direct_copy and self._copy_new_loans(cur, buffer):
                    inserted = batch.scored
                else:
                    buffer.seek(0)
                    cur.copy_expert(COPY_SQL, buffer, COPY_CHUNK)
                    cur.execute(UPSERT_SQL)
                    inserted = sum(1 for (flag,) in cur.fetchall() if flag)
            if batch.dead:
                cur.executemany(DEAD_LETTER_SQL, batch.dead)
            cur.execute(
                MOVE_OFFSETS_SQL,
                {
                    "group": self.group,
                    "topic": self.topic,
                    "partitions": partitions,
                    "expected": [stats.next_offsets.get(p) for p in partitions],
                    "next": [batch.end[p] for p in partitions],
                },
            )
            stored = {p: (offset, moved) for p, offset, moved in cur.fetchall()}
            for partition in partitions:
                found, moved = stored.get(partition, (None, False))
                if not moved:  # raised inside `with conn`: the whole batch rolls back
                    raise FencedError(
                        f"partition {partition}: stored offset is {found} but this consumer "
                        f"is at {stats.next_offsets.get(partition)}; another consumer of group "
                        f"'{self.group}' is working this partition. Stopped without writing; "
                        "re-run to resume from Postgres"
                    )
        stats.inserted += inserted
        stats.updated += batch.scored - inserted

    def _copy_new_loans(self, cur: Any, buffer: io.BytesIO) -> bool:
        """COPY the batch straight into risk_scored; False (rolled back) if a loan id repeats.

        After the first repeat the run upserts every batch: a replay would repeat in each.
        """
        buffer.seek(0)
        cur.execute("SAVEPOINT direct_copy")
        try:
            cur.copy_expert(DIRECT_COPY_SQL, buffer, COPY_CHUNK)
        except psycopg2.errors.UniqueViolation:
            cur.execute("ROLLBACK TO SAVEPOINT direct_copy")
            self._direct_copy = False
            log.info("batch repeats stored loan ids: upserting from now on")
            return False
        return True  # the savepoint ends with the transaction

    # -- kafka ----------------------------------------------------------------------------

    def _consumer(self) -> Consumer:
        config = dict(self.kafka_config)
        config.update(
            {
                "group.id": self.group,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "enable.partition.eof": True,
                "isolation.level": "read_committed",
                "fetch.max.bytes": 52_428_800,
                "max.partition.fetch.bytes": 4_194_304,
                # Once its local queue is full, librdkafka waits fetch.queue.backoff.ms before
                # fetching again: at the default 1000 ms the sink sat idle for most of a run
                # (bare consume: 43k events/s; at 10 ms: ~390k, bench/bench_sink.py).
                "fetch.queue.backoff.ms": 10,
            }
        )
        return Consumer(config)

    def _partitions(self, consumer: Consumer, wanted: list[int] | None) -> list[int]:
        brokers = str(self.kafka_config.get("bootstrap.servers"))
        try:
            existing = topic_partitions(consumer, self.topic, 10, brokers)
        except TopicError as exc:
            raise SinkError(str(exc)) from None
        if existing is None:
            raise SinkError(f"topic '{self.topic}' does not exist; run the create_topic task first")
        if wanted is None:
            return existing
        missing = sorted(set(wanted) - set(existing))
        if missing:
            raise SinkError(
                f"topic '{self.topic}' has partitions {existing}; partition(s) {missing} do not exist"
            )
        return sorted(set(wanted))

    # -- main loop ------------------------------------------------------------------------

    def run(
        self,
        partitions: list[int] | None = None,
        *,
        max_events: int | None = None,
        idle_timeout: float = 30.0,
    ) -> SinkStats:
        """Consume until caught up with the end offsets seen at start, ``max_events``, or idle."""
        started = time.perf_counter()
        stats = SinkStats(topic=self.topic, group=self.group)
        consumer = self._consumer()
        conn = None
        republisher = None
        try:
            stats.partitions = self._partitions(consumer, partitions)
            conn = self._connect()
            watermarks = {
                p: consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)
                for p in stats.partitions
            }
            stored = self.stored_offsets(
                conn, stats.partitions, {p: low for p, (low, _) in watermarks.items()}
            )
            assignments = []
            for p in stats.partitions:
                low, high = watermarks[p]
                start = stored[p]
                if start < low:
                    log.warning(
                        "partition %d: stored offset %d is below the log start %d (retention "
                        "deleted %d events before they were scored); resuming at %d",
                        p, start, low, low - start, low,
                    )  # fmt: skip
                    start = low
                stats.next_offsets[p] = start
                stats.end_offsets[p] = high
                if start < high:
                    assignments.append(TopicPartition(self.topic, p, start))
            waiting = {p: stats.end_offsets[p] - stats.next_offsets[p] for p in stats.partitions}
            log.info(
                "consuming topic '%s' partitions %s as group '%s': %d events waiting %s, "
                "resuming from Postgres offsets %s; scoring: %s",
                self.topic, stats.partitions, self.group, sum(waiting.values()), waiting,
                {p: stats.next_offsets[p] for p in stats.partitions}, self.scoring_path,
            )  # fmt: skip
            if not assignments:
                stats.stopped_by = "caught-up"
                self._final_kafka_commit(consumer, stats)
                return stats
            if self.republish_topic:
                republisher = Producer(
                    {**self.kafka_config, "enable.idempotence": True, "acks": "all",
                     "linger.ms": 5, "partitioner": "murmur2_random"}
                )  # fmt: skip
            consumer.assign(assignments)
            self._loop(consumer, conn, republisher, stats, max_events, idle_timeout)
            self._final_kafka_commit(consumer, stats)
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            # Postgres went away mid-run (crash, restart, network): say so, not a traceback.
            # (`with conn` turns a dropped connection into "connection already closed" on its
            # rollback; the error underneath says what happened)
            cause = exc.__context__ if isinstance(exc.__context__, psycopg2.Error) else exc
            reason = str(cause).strip().splitlines()[0] if str(cause).strip() else repr(cause)
            raise SinkError(
                f"lost the connection to Postgres at {redact_dsn(self.pg_dsn)} ({reason}); "
                "the batch in flight was stored whole or not at all. Check Postgres "
                "(`make status`, its log) and re-run: the consumer resumes from the offsets "
                "stored in Postgres, so nothing is lost or doubled"
            ) from exc
        finally:
            stats.seconds = time.perf_counter() - started
            consumer.close()
            if conn is not None:
                conn.close()
        log.info(
            "scored %d events (%d new loans, %d updated), dead-lettered %d, skipped %d already "
            "stored, in %.2fs (%.0f eps), %d batches; bands %s; stopped by %s",
            stats.scored, stats.inserted, stats.updated, stats.dead_lettered,
            stats.skipped_already_stored, stats.seconds, stats.eps, stats.batches,
            stats.bands, stats.stopped_by,
        )  # fmt: skip
        return stats

    def _loop(
        self,
        consumer: Consumer,
        conn: Any,
        republisher: Producer | None,
        stats: SinkStats,
        max_events: int | None,
        idle_timeout: float,
    ) -> None:
        """Consume and score batch N+1 while a writer thread stores batch N.

        Batches are stored one at a time, in order, each in its own transaction; a batch is
        counted in ``stats`` and committed to Kafka only after its transaction committed.
        """
        read_pos = dict(stats.next_offsets)  # where the next batch starts, per partition
        remaining = {p for p in stats.partitions if read_pos[p] < stats.end_offsets[p]}
        last_message = time.monotonic()
        next_progress = time.monotonic() + self.progress_seconds
        in_flight: tuple[Future, _Batch] | None = None
        writer = ThreadPoolExecutor(1, thread_name_prefix="loanstream-sink-writer")
        try:
            while remaining:
                if self._stop_requested:
                    stats.stopped_by = "stop-request"
                    return
                limit = self.batch_size
                if max_events is not None:
                    limit = min(limit, max_events - stats.consumed)
                    if limit <= 0:
                        stats.stopped_by = "max-events"
                        return
                # Never ask for more than is still expected: consume() then returns as soon as
                # the last expected event arrives instead of waiting out batch_seconds.
                expected = sum(stats.end_offsets[p] - read_pos[p] for p in remaining)
                limit = max(1, min(limit, expected))
                messages = consumer.consume(num_messages=limit, timeout=self.batch_seconds)
                batch = _Batch()
                for msg in messages:
                    err = msg.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            continue
                        if err.retriable() or not err.fatal():
                            log.warning("consumer error (will retry): %s", err.str())
                            continue
                        raise SinkError(f"fatal Kafka consumer error: {err.str()}")
                    self._add(msg, batch, read_pos, stats)
                if batch.messages:
                    self._score_natively(batch)
                if batch.end:
                    last_message = time.monotonic()
                    read_pos.update(batch.end)
                    if in_flight is not None:
                        self._stored(consumer, *in_flight, stats)
                        in_flight = None
                    future = writer.submit(self._store, conn, republisher, batch, stats)
                    in_flight = (future, batch)
                elif time.monotonic() - last_message > idle_timeout:
                    stats.stopped_by = "idle-timeout"
                    log.warning(
                        "no events for %.0fs while %s were still expected: stopping (idle "
                        "timeout)", idle_timeout,
                        {p: stats.end_offsets[p] - read_pos[p] for p in remaining},
                    )  # fmt: skip
                    return
                remaining = {p for p in remaining if read_pos[p] < stats.end_offsets[p]}
                now = time.monotonic()
                if now >= next_progress:
                    next_progress = now + self.progress_seconds
                    log.info(
                        "progress: consumed %d (scored %d, dead-lettered %d), %d events left",
                        stats.consumed, stats.scored, stats.dead_lettered,
                        sum(stats.end_offsets[p] - read_pos[p] for p in remaining),
                    )  # fmt: skip
            stats.stopped_by = "caught-up"
        finally:
            # on an error too: wait for the batch in flight (never close conn under its COPY)
            try:
                if in_flight is not None:
                    self._stored(consumer, *in_flight, stats)
            finally:
                writer.shutdown(wait=True)

    def _add(self, msg: Message, batch: _Batch, read_pos: dict[int, int], stats: SinkStats) -> None:
        partition, offset = msg.partition(), msg.offset()
        position = batch.end.get(partition, read_pos.get(partition, 0))
        if offset < position:  # re-delivered after a crash: already stored in Postgres
            stats.skipped_already_stored += 1
            return
        if offset >= stats.end_offsets.get(partition, offset + 1):
            return  # beyond the end seen at start: left for the next run
        batch.end[partition] = offset + 1
        stats.consumed += 1
        if self._native is not None:
            batch.messages.append(msg)  # scored per batch: _score_natively
        else:
            self._score(msg, batch)

    def _score_natively(self, batch: _Batch) -> None:
        """The native scorer writes most rows as CSV; Python scores what it declines."""
        batch.native_csv, declined, batch.native_scores = self._native.score(batch.messages)
        batch.native_rows = len(batch.messages) - len(declined)
        for index in declined:
            self._score(batch.messages[index], batch)
        batch.messages = []

    def _score(self, msg: Message, batch: _Batch) -> None:
        """Score one message in Python: a row, or a dead letter with the reason."""
        partition, offset = msg.partition(), msg.offset()
        result = score_message(msg, self.rules, payload=bool(self.republish_topic))
        if isinstance(result, str):
            key = msg.key()
            batch.dead.append(
                (msg.topic(), partition, offset,
                 _kafka_text(key) if key is not None else None,
                 psycopg2.Binary(msg.value() or b""), result, _header(msg.headers(), "run_id"))
            )  # fmt: skip
            return
        row, payload = result
        batch.rows.append(row)  # bands and decisions are counted per batch, in _stored
        if self.republish_topic:
            headers = [
                ("src_topic", msg.topic().encode()),
                ("src_partition", b"%d" % partition),
                ("src_offset", b"%d" % offset),
            ]
            batch.republish.append((row[0], orjson.dumps(payload), headers))

    def _store(
        self, conn: Any, republisher: Producer | None, batch: _Batch, stats: SinkStats
    ) -> None:
        """Writer thread: republish (if asked), then one database transaction for the batch."""
        if republisher is not None and batch.republish:
            self._republish(republisher, batch)
        self._write(conn, batch, stats)

    def _stored(self, consumer: Consumer, future: Future, batch: _Batch, stats: SinkStats) -> None:
        """Wait for a batch's transaction (re-raising its error), then count it and tell Kafka."""
        future.result()
        # Postgres holds the truth now; the Kafka commit below only feeds lag metrics.
        stats.next_offsets.update(batch.end)
        stats.scored += batch.scored
        stats.scored_natively += batch.native_rows
        stats.dead_lettered += len(batch.dead)
        stats.republished += len(batch.republish)
        stats.batches += 1
        batch.bands.update(map(_BAND, batch.rows))
        batch.decisions.update(map(_DECISION, batch.rows))
        for score, n in enumerate(batch.native_scores):
            if n:
                batch.bands[self._band_of[score]] += n
                batch.decisions[self._decision_of[score]] += n
        for band, n in batch.bands.items():
            stats.bands[band] = stats.bands.get(band, 0) + n
        for decision, n in batch.decisions.items():
            stats.decisions[decision] = stats.decisions.get(decision, 0) + n
        try:
            consumer.commit(
                offsets=[TopicPartition(self.topic, p, o) for p, o in batch.end.items()],
                asynchronous=True,
            )
        except KafkaException as exc:
            log.warning("advisory Kafka commit failed (Postgres offsets are what count): %s", exc)

    def _final_kafka_commit(self, consumer: Consumer, stats: SinkStats) -> None:
        """Mirror the Postgres offsets to Kafka once more, synchronously (advisory, for lag)."""
        offsets = [TopicPartition(self.topic, p, o) for p, o in stats.next_offsets.items()]
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            log.warning("advisory Kafka commit failed (Postgres offsets are what count): %s", exc)

    def _republish(self, republisher: Producer, batch: _Batch) -> None:
        failures: list[str] = []

        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                failures.append(err.str())

        for key, value, headers in batch.republish:
            while True:
                try:
                    republisher.produce(
                        self.republish_topic, key=key, value=value, headers=headers,
                        on_delivery=on_delivery,
                    )  # fmt: skip
                    break
                except BufferError:
                    republisher.poll(0.05)
        remaining = republisher.flush(60)
        if remaining or failures:
            raise SinkError(
                f"republishing to '{self.republish_topic}' failed for {remaining + len(failures)} "
                f"events ({failures[:3]}); nothing was committed, re-run to retry"
            )
