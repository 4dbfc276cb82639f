"""``ScoringSink``: the run loop that ties the sink's parts together.

How exactly-once holds, even when the process is killed at any instant:

1. auto-commit is off; each partition starts from the offset stored in Postgres
   (``OffsetStore``), or the partition's beginning the first time;
2. a batch is whatever the consumer has ready, up to ``batch_size`` (natural batching: at low
   rates a batch is the one event that just arrived, at high rates it fills up);
3. the batch is scored (``BatchScorer``), republished if asked (``Republisher``, acknowledged
   before the commit), and written in ONE transaction with its offsets and their fence
   (``BatchWriter``), by a writer thread while the next batch is consumed and scored; the
   commits do not wait for the disk, the end of the run waits once for all of them;
4. only then is it counted (``SinkStats``) and, at most once a second, committed to Kafka;
   that commit is advisory (lag tools): a crash between the two re-reads events whose offsets
   Postgres already holds, and they are skipped by position.

A partition is worked by one consumer at a time (a lease in Postgres): a second one waits its
turn, or finds its work done by the first. When to stop is the ``until`` condition's call:
caught up with the end offsets seen at start (batch mode), never (``follow``), or the end of a
pipeline run as its ledger tells (``RunEnd``).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg2
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from loanstream.config import Settings, redact_dsn
from loanstream.kafka import clients as kafka_clients
from loanstream.kafka.topics import TopicError, topic_id, topic_partitions
from loanstream.scoring import load_rules
from loanstream.sink.consumer import poll_batch, sink_consumer
from loanstream.sink.errors import SinkError
from loanstream.sink.offsets import OffsetStore
from loanstream.sink.republisher import Republisher
from loanstream.sink.schema_ids import ContractSchemaIds
from loanstream.sink.scorer import Batch, BatchScorer
from loanstream.sink.stats import SinkStats
from loanstream.sink.timings import StageTimes
from loanstream.sink.until import CaughtUp, Follow, RunEnd
from loanstream.sink.writer import BatchWriter
from loanstream.store import connect as clients
from loanstream.store import migrations
from loanstream.store.ledger import RunLedger

log = logging.getLogger("loanstream.sink")

LEASE_RETRY_SECONDS = 0.5
# Kafka's committed offsets (advisory, for lag tools such as kafka-consumer-groups) are
# mirrored at most this often, and once more at the end: each commit is a write to
# __consumer_offsets, and at 5,000 events/s in small batches one per batch was ~600 a second
KAFKA_COMMIT_SECONDS = 1.0


def pg_connect(dsn: str) -> Any:
    """A Postgres connection for the sink, or ``SinkError`` saying what to do."""
    try:
        return clients.pg_connect(dsn, application_name="loanstream-sink")
    except psycopg2.OperationalError as exc:
        raise SinkError(
            f"cannot connect to Postgres ({clients.first_line(exc)}); start it "
            "(`make up`) or fix LOANSTREAM_PG_DSN / the loanstream_postgres connection"
        ) from None


class ScoringSink:
    """Consume ``topic`` (all or some partitions) into Postgres, exactly once.

    :param kafka_config: librdkafka settings (brokers, SASL/TLS).
    :param pg_dsn: libpq DSN of the loanstream database.
    :param topic: the events topic.
    :param group: consumer group: offsets are stored per group in Postgres.
    :param batch_size: most events in one batch (one transaction).
    :param poll_seconds: longest wait for the next event when none is ready.
    :param republish_topic: also produce each scored event there (at-least-once), framed
        with the id of ``risk_decision`` registered for it.
    :param schema_registry_url: where the schema ids of framed events are resolved and the
        republished events' schema is registered (default: the settings').
    :param migrations_dir: the schema migrations this code ships (default: the settings');
        the database must be at their newest version (checked once at start, never applied
        here: ``loanstream schema migrate``).
    :param rules_path: the rules file (default: the shipped one).
    :param progress_seconds: seconds between progress log lines.
    :param native: ``auto``, ``on`` or ``off``: the native scorer (``LOANSTREAM_NATIVE_SCORING``).
    :param lease: take each partition's lease before consuming it (off only to test the fence).
    """

    def __init__(
        self,
        kafka_config: dict[str, Any],
        pg_dsn: str,
        topic: str,
        *,
        group: str = "loanstream-scorer",
        batch_size: int = 2000,
        poll_seconds: float = 0.1,
        republish_topic: str | None = None,
        schema_registry_url: str | None = None,
        migrations_dir: Path | None = None,
        rules_path: Path | None = None,
        progress_seconds: float = 5.0,
        native: str = "auto",
        lease: bool = True,
    ) -> None:
        self.kafka_config = dict(kafka_config)
        self.pg_dsn = pg_dsn
        self.topic = topic
        self.group = group
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.republish_topic = republish_topic
        settings = Settings.from_env()
        self.schema_registry_url = schema_registry_url or settings.schema_registry_url
        self.migrations_dir = migrations_dir or settings.migrations_dir
        self.rules = load_rules(rules_path) if rules_path else load_rules()
        self.progress_seconds = progress_seconds
        self.lease = lease
        self._stop_requested = False
        self._next_kafka_commit = 0.0  # time.monotonic() of the next advisory Kafka commit
        self.scorer = BatchScorer(
            self.rules, native, republish=bool(republish_topic),
            schema_ids=ContractSchemaIds(self.schema_registry_url),
        )  # fmt: skip
        self.offsets = OffsetStore(group, topic)
        self.writer = BatchWriter(self.offsets)

    @property
    def scoring_path(self) -> str:
        return self.scorer.path

    def stop(self) -> None:
        """Ask a running ``run`` to finish its current batch and return (signal-safe)."""
        self._stop_requested = True

    # -- clients ------------------------------------------------------------------------------

    def _connect(self) -> Any:
        conn = pg_connect(self.pg_dsn)
        try:
            migrations.check(conn, self.migrations_dir)
        except migrations.MigrationError as exc:
            conn.close()
            raise SinkError(f"{exc} (database {redact_dsn(self.pg_dsn)})") from None
        BatchWriter.prepare(conn)
        return conn

    def _partitions(self, wanted: list[int] | None) -> tuple[list[int], str | None]:
        """The partitions to consume, and the topic's id (None where the cluster keeps none)."""
        brokers = str(self.kafka_config.get("bootstrap.servers"))
        try:
            # an admin client: served while it waits, so an unreachable broker's lines are
            # logged (collapsed) as they come, before the error
            with kafka_clients.admin_client(self.kafka_config, f"topic '{self.topic}'") as admin:
                existing = topic_partitions(admin, self.topic, 10, brokers)
                current_id = topic_id(admin, self.topic) if existing is not None else None
        except TopicError as exc:
            raise SinkError(str(exc)) from None
        if existing is None:
            raise SinkError(f"topic '{self.topic}' does not exist; run the create_topic task first")
        if wanted is None:
            return existing, current_id
        missing = sorted(set(wanted) - set(existing))
        if missing:
            raise SinkError(
                f"topic '{self.topic}' has partitions {existing}; partition(s) {missing} do not exist"
            )
        return sorted(set(wanted)), current_id

    # -- the run ------------------------------------------------------------------------------

    def run(
        self,
        partitions: list[int] | None = None,
        *,
        max_events: int | None = None,
        idle_timeout: float = 30.0,
        follow: bool = False,
        ledger: RunLedger | None = None,
        stale_after: float = 60.0,
    ) -> SinkStats:
        """Consume into Postgres until the condition is met, ``max_events``, or ``stop()``.

        :param partitions: partitions to consume (default: all).
        :param max_events: stop after this many events.
        :param idle_timeout: batch mode: stop after this long without an expected event.
        :param follow: keep scoring as events arrive until ``stop()`` (CLI ``--follow``).
        :param ledger: score a pipeline run: until its ledger says its last event is stored.
        :param stale_after: with ``ledger``: heartbeat age after which the producer is gone.
        """
        started = time.perf_counter()
        stats = SinkStats(
            topic=self.topic, group=self.group, run_id=ledger.run_id if ledger else None
        )
        consumer: Any = None
        conn = None
        try:
            stats.partitions, current_id = self._partitions(partitions)
            consumer = sink_consumer(self.kafka_config, self.group, self.topic)
            conn = self._connect()
            self.scorer.prime(self.topic)
            watermarks = self._watermarks(consumer, stats.partitions)
            if follow:
                until: Any = Follow()
            elif ledger is not None:
                until = RunEnd(
                    ledger, stats.partitions,
                    lambda: {p: h for p, (_, h) in self._watermarks(consumer, stats.partitions).items()},
                    stale_after=stale_after, idle_timeout=idle_timeout,
                )  # fmt: skip
            else:
                until = CaughtUp({p: high for p, (_, high) in watermarks.items()}, idle_timeout)
            stored = self.offsets.register(
                conn, stats.partitions, {p: low for p, (low, _) in watermarks.items()},
                ends={p: high for p, (_, high) in watermarks.items()}, topic_id=current_id,
            )  # fmt: skip
            reason = None
            if self.lease:
                stored, reason = self._take_leases(conn, stats, stored, until)
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
            waiting = {p: stats.end_offsets[p] - stats.next_offsets[p] for p in stats.partitions}
            log.info(
                "consuming topic '%s' partitions %s as group '%s' %s: %d events waiting %s, "
                "resuming from Postgres offsets %s; scoring: %s",
                self.topic, stats.partitions, self.group, until.describe(), sum(waiting.values()),
                waiting, dict(stats.next_offsets), self.scoring_path,
            )  # fmt: skip
            reason = reason or until.done(stats.next_offsets, 0.0)
            if reason:
                stats.stopped_by = reason
            else:
                consumer.assign(
                    [TopicPartition(self.topic, p, stats.next_offsets[p]) for p in stats.partitions]
                )
                if ledger is not None:
                    for p in stats.partitions:
                        ledger.consumer_live(p)
                republisher = (
                    Republisher(self.kafka_config, self.republish_topic, self.schema_registry_url)
                    if self.republish_topic
                    else None
                )
                try:
                    self._loop(consumer, conn, republisher, stats, until, max_events)
                finally:
                    if republisher is not None:
                        republisher.close()
            stats.end_offsets.update(until.limits())
            if stats.batches:
                self.writer.make_durable(conn, stats.partitions)
            self._final_kafka_commit(consumer, stats)
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            # Postgres went away mid-run (crash, restart, network): say so, not a traceback.
            # (`with conn` turns a dropped connection into "connection already closed" on its
            # rollback; the error underneath says what happened)
            cause = exc.__context__ if isinstance(exc.__context__, psycopg2.Error) else exc
            why = str(cause).strip().splitlines()[0] if str(cause).strip() else repr(cause)
            raise SinkError(
                f"lost the connection to Postgres at {redact_dsn(self.pg_dsn)} ({why}); "
                "the batch in flight was stored whole or not at all. Check Postgres "
                "(`make status`, its log) and re-run: the consumer resumes from the offsets "
                "stored in Postgres, so nothing is lost or doubled"
            ) from exc
        finally:
            stats.seconds = time.perf_counter() - started
            if consumer is not None:
                consumer.close()  # serves the library's last lines, writes their counts
            if conn is not None:
                conn.close()  # releases the leases too
        log.info(
            "scored %d events (%d decisions stored, %d decided before), dead-lettered %d, "
            "skipped %d already stored, in %.2fs (%.0f eps), %d batches; bands %s; stored up to offsets %s; "
            "stopped by %s",
            stats.scored, stats.stored, stats.already_decided, stats.dead_lettered,
            stats.skipped_already_stored, stats.seconds, stats.eps, stats.batches,
            stats.bands, dict(stats.next_offsets), stats.stopped_by,
        )  # fmt: skip
        return stats

    def _watermarks(self, consumer: Consumer, partitions: list[int]) -> dict[int, tuple[int, int]]:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)
            for p in partitions
        }

    def _take_leases(
        self, conn: Any, stats: SinkStats, stored: dict[int, int], until: Any
    ) -> tuple[dict[int, int], str | None]:
        """Lease every partition, waiting while another consumer holds one; returns the stored
        offsets once leased, and a reason if the work was done meanwhile by the other one."""
        waiting_since = time.monotonic()
        pending = list(stats.partitions)
        announced = False
        while True:
            pending = [p for p in pending if not self.offsets.try_lease(conn, p)]
            if not pending:
                break
            if not announced:
                log.info(
                    "partition(s) %s of '%s' are being consumed by another consumer of group "
                    "'%s' (an overlapping run's task, or a CLI consumer): waiting for it",
                    pending, self.topic, self.group,
                )  # fmt: skip
                announced = True
            reason = until.done(self.offsets.stored(conn, stats.partitions), 0.0)
            if reason or self._stop_requested:
                stats.waited_for_lease_seconds = time.monotonic() - waiting_since
                log.info("the other consumer stored this run's events: nothing left to do")
                return self.offsets.stored(conn, stats.partitions), reason or "stop-request"
            time.sleep(LEASE_RETRY_SECONDS)
        stats.waited_for_lease_seconds = time.monotonic() - waiting_since
        if announced:
            log.info("leased after waiting %.1fs", stats.waited_for_lease_seconds)
            stored = self.offsets.stored(conn, stats.partitions)
        return stored, None

    def _loop(
        self,
        consumer: Consumer,
        conn: Any,
        republisher: Republisher | None,
        stats: SinkStats,
        until: Any,
        max_events: int | None,
    ) -> None:
        """Consume and score batch N+1 while a writer thread stores batch N.

        Batches are stored one at a time, in order, each in its own transaction; a batch is
        counted in ``stats`` and committed to Kafka only after its transaction committed.
        """
        read_pos = dict(stats.next_offsets)  # where the next batch starts, per partition
        loop_started = last_event = time.monotonic()
        next_progress = time.monotonic() + self.progress_seconds
        in_flight: tuple[Future, Batch, tuple[float, float]] | None = None
        times = StageTimes()
        writer = ThreadPoolExecutor(1, thread_name_prefix="loanstream-sink-writer")
        try:
            while True:
                if in_flight is not None and in_flight[0].done():
                    self._stored(consumer, *in_flight, stats, times)
                    in_flight = None
                if self._stop_requested:
                    stats.stopped_by = "stop-request"
                    return
                stopped_by = until.done(stats.next_offsets, time.monotonic() - last_event)
                if stopped_by:
                    if in_flight is None:
                        stats.stopped_by = stopped_by
                        return
                    self._stored(consumer, *in_flight, stats, times)  # then ask again
                    in_flight = None
                    continue
                limit = self.batch_size
                if max_events is not None:
                    limit = min(limit, max_events - stats.consumed)
                    if limit <= 0:
                        stats.stopped_by = "max-events"
                        return
                limits = until.limits()
                batch = Batch()
                first_ts = 0  # the batch's first event's Kafka timestamp (ms since the epoch)
                for msg in poll_batch(consumer, limit, self.poll_seconds):
                    err = msg.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            continue
                        if err.retriable() or not err.fatal():
                            log.warning("consumer error (will retry): %s", err.str())
                            continue
                        raise SinkError(f"fatal Kafka consumer error: {err.str()}")
                    partition, offset = msg.partition(), msg.offset()
                    if offset < batch.end.get(partition, read_pos[partition]):
                        stats.skipped_already_stored += 1  # re-delivered: already in Postgres
                        continue
                    if offset >= limits.get(partition, offset + 1):
                        continue  # beyond this run's end: left for the next consumer
                    if not first_ts:
                        first_ts = msg.timestamp()[1]
                    batch.add(msg)
                    stats.consumed += 1
                if batch.end:
                    last_event = time.monotonic()
                    held = (max(0.0, time.time() * 1000 - first_ts) if first_ts > 0 else 0.0,
                            last_event)  # fmt: skip
                    self.scorer.score(batch)
                    expected = {p: read_pos[p] for p in batch.end}  # the fence: stored before
                    read_pos.update(batch.end)
                    if in_flight is not None:
                        self._stored(consumer, *in_flight, stats, times)
                    future = writer.submit(self._store, conn, republisher, batch, expected)
                    in_flight = (future, batch, held)
                now = time.monotonic()
                if now >= next_progress:
                    next_progress = now + self.progress_seconds
                    log.info(
                        "progress: consumed %d (scored %d, dead-lettered %d) in %.0fs, stored up "
                        "to offsets %s",
                        stats.consumed, stats.scored, stats.dead_lettered,
                        now - loop_started, dict(stats.next_offsets),
                    )  # fmt: skip
        finally:
            # on an error too: wait for the batch in flight (never close conn under its COPY)
            try:
                if in_flight is not None:
                    self._stored(consumer, *in_flight, stats, times)
            finally:
                writer.shutdown(wait=True)
                stats.stage_ms = times.summary()

    def _store(
        self,
        conn: Any,
        republisher: Republisher | None,
        batch: Batch,
        expected: dict[int, int],
    ) -> int:
        """Writer thread: republish (if asked), then one database transaction for the batch."""
        if republisher is not None and batch.republish:
            republisher.publish(batch)
        return self.writer.write(conn, batch, expected)

    def _stored(
        self,
        consumer: Consumer,
        future: Future,
        batch: Batch,
        held: tuple[float, float],
        stats: SinkStats,
        times: StageTimes,
    ) -> None:
        """Wait for a batch's transaction (re-raising its error), then count it, time its
        stages (``held``: its Kafka stage in ms, and when the loop held it) and tell Kafka (at most
        every ``KAFKA_COMMIT_SECONDS``)."""
        stored = future.result()
        started, copied, committed = self.writer.times
        kafka_ms, held_at = held
        times.add(kafka_ms, (started - held_at) * 1000, (copied - started) * 1000,
                  (committed - copied) * 1000)  # fmt: skip
        bands, decisions = self.scorer.mix(batch)
        stats.count_batch(
            end=batch.end,
            scored=batch.scored,
            stored=stored,
            scored_natively=batch.native_rows,
            dead_lettered=len(batch.dead),
            republished=len(batch.republish),
            bands=bands,
            decisions=decisions,
        )
        now = time.monotonic()
        if now < self._next_kafka_commit:
            return
        self._next_kafka_commit = now + KAFKA_COMMIT_SECONDS
        try:  # Postgres holds the truth now; this commit only feeds lag tools
            consumer.commit(
                offsets=[TopicPartition(self.topic, p, o) for p, o in stats.next_offsets.items()],
                asynchronous=True,
            )
        except KafkaException as exc:
            log.warning("advisory Kafka commit failed (Postgres offsets are what count): %s", exc)

    def _final_kafka_commit(self, consumer: Consumer, stats: SinkStats) -> None:
        """Mirror the Postgres offsets to Kafka once more, synchronously (advisory, for lag)."""
        if not stats.next_offsets:
            return
        offsets = [TopicPartition(self.topic, p, o) for p, o in stats.next_offsets.items()]
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            log.warning("advisory Kafka commit failed (Postgres offsets are what count): %s", exc)
