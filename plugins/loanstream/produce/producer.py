"""Rate-controlled producer: a CSV streamed to Kafka as keyed, typed ``loan_application`` events.

Before the first event, the contract's JSON Schema is registered as the topic's value schema
(``<topic>-value``, BACKWARD; :mod:`loanstream.kafka.registry`): a change the registry refuses,
or a registry that does not answer, stops the run with nothing produced. Each value is the
typed event (:mod:`loanstream.produce.typed`) in Confluent's framing (zero byte, schema id),
which confluent-kafka's stock deserializers read; columns outside the contract are dropped and
counted per column (``ProduceStats.dropped_columns``).

confluent-kafka with ``acks=all`` and idempotence on, so broker restarts neither lose nor
duplicate events. Every delivery report is counted; an event still undelivered after the
client's retries fails the run with the count and the first errors. A full local queue
(``BufferError``) is handled by polling until there is room, never by dropping.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from loanstream.config import Settings
from loanstream.contract.fields import NAME, VERSION
from loanstream.contract.schema import schema_text
from loanstream.kafka import clients as kafka_clients
from loanstream.kafka.registry import RegistryError, ValueSchemas, frame
from loanstream.kafka.topics import TopicError, topic_partitions
from loanstream.lendingclub.lines import describe_skipped
from loanstream.paths import CsvFile
from loanstream.produce.events import Rejection, finish_event_now, iter_event_batches
from loanstream.produce.prefetch import Prefetched
from loanstream.produce.rate import RateLimiter
from loanstream.produce.stats import ProduceStats
from loanstream.store.ledger import Heartbeat, LedgerError, RunLedger

log = logging.getLogger(__name__)

MAX_ERRORS_KEPT = 10


class ProduceError(RuntimeError):
    """Events were not delivered, or the run could not start; the message says what to do."""

    def __init__(self, message: str, stats: ProduceStats | None = None) -> None:
        super().__init__(message)
        self.stats = stats


@dataclass
class ProducerOptions:
    """Client tuning: batching, compression and timeouts (librdkafka names in comments)."""

    linger_ms: int = 5  # linger.ms
    batch_bytes: int = 1_000_000  # batch.size
    compression: str = "lz4"  # compression.type: none, gzip, snappy, lz4, zstd
    delivery_timeout_ms: int = 120_000  # delivery.timeout.ms: retries end here
    queue_max_messages: int = 100_000  # queue.buffering.max.messages
    queue_max_kbytes: int = 65_536  # queue.buffering.max.kbytes: bounds the producer's memory
    extra: dict[str, Any] = field(default_factory=dict)  # any other librdkafka setting

    def client_config(self, base: dict[str, Any]) -> dict[str, Any]:
        config = dict(base)
        config.update(
            {
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": self.linger_ms,
                "batch.size": self.batch_bytes,
                "compression.type": self.compression,
                "delivery.timeout.ms": self.delivery_timeout_ms,
                "queue.buffering.max.messages": self.queue_max_messages,
                "queue.buffering.max.kbytes": self.queue_max_kbytes,
                # Same key -> same partition as Kafka's Java clients and rpk.
                "partitioner": "murmur2_random",
            }
        )
        config.update(self.extra)
        return config


def check_topic(admin_config: dict[str, Any], topic: str, timeout: float = 10.0) -> int:
    """The topic's partition count; a clear ``ProduceError`` if Kafka or the topic is missing."""
    brokers = str(admin_config.get("bootstrap.servers"))
    try:
        with kafka_clients.admin_client(admin_config, f"topic '{topic}'") as admin:
            partitions = topic_partitions(admin, topic, timeout, brokers)
    except TopicError as exc:
        raise ProduceError(str(exc)) from None
    if partitions is None:
        raise ProduceError(
            f"topic '{topic}' does not exist on {brokers}; create it first "
            f"(`loanstream topic create --topic {topic}` or the create_topic task)"
        )
    return len(partitions)


class EventProducer:
    """Streams a CSV to a topic at a target rate (0 = as fast as the machine allows)."""

    def __init__(
        self,
        kafka_config: dict[str, Any],
        topic: str,
        *,
        options: ProducerOptions | None = None,
        progress_seconds: float = 5.0,
        flush_timeout: float | None = None,
        producer_factory: Callable[[dict[str, Any]], Producer] | None = None,
        schema_registry_url: str | None = None,
    ) -> None:
        self.kafka_config = dict(kafka_config)
        self.topic = topic
        # the Confluent-compatible API of the schema registry (LOANSTREAM_SCHEMA_REGISTRY_URL)
        self.schema_registry_url = schema_registry_url or Settings.from_env().schema_registry_url
        self.options = options or ProducerOptions()
        self.progress_seconds = progress_seconds
        self.flush_timeout = flush_timeout or self.options.delivery_timeout_ms / 1000 + 10
        self._producer_factory = producer_factory or (
            lambda config: kafka_clients.producer(config, f"produce to '{topic}'")
        )
        self._stop_requested = False

    def stop(self) -> None:
        """Ask a running ``produce_csv`` to stop sending, flush and report (signal-safe)."""
        self._stop_requested = True

    def produce_csv(
        self,
        csv_path: str | Path | CsvFile,
        *,
        rate: float = 0,
        max_events: int | None = None,
        skip: int = 0,
        run_id: str | None = None,
        chunk_rows: int = 5000,
        ledger: RunLedger | None = None,
        wait_for_consumers: float = 0.0,
        error_state: str = "failed",
    ) -> ProduceStats:
        """Produce ``csv_path``; returns the stats, raises ``ProduceError`` if any event failed.

        :param ledger: write the run's progress there (heartbeat, per-partition offsets, final
            state) for the consumers and the sensor of a pipeline run.
        :param wait_for_consumers: with ``ledger``: after the first event, wait up to this many
            seconds until a consumer is live on every partition (so no event waits for
            Airflow to start the consumer tasks), then go on at ``rate``.
        :param error_state: the ledger state an exception leaves (``retrying`` when a retry
            of the task will follow, else ``failed``).
        """
        if not isinstance(csv_path, CsvFile):  # an open file is read through its descriptor
            csv_path = Path(csv_path)
        run_id = run_id or f"manual__{uuid.uuid4().hex[:12]}"
        stats = ProduceStats(
            topic=self.topic, target_rate=float(rate), run_id=run_id, source_file=str(csv_path)
        )
        offsets: dict[int, list[int]] = {}  # partition -> [first offset, end offset, delivered]
        if ledger is None:
            return self._produce(csv_path, stats, offsets, rate, max_events, skip, chunk_rows)
        attempt = ledger.producing(str(csv_path))
        log.info("run %s: attempt %d recorded in the run ledger", run_id, attempt)

        def beat() -> None:
            ledger.progress(stats.counts(), {p: tuple(o) for p, o in list(offsets.items())})

        try:
            with Heartbeat(beat):
                stats = self._produce(
                    csv_path, stats, offsets, rate, max_events, skip, chunk_rows,
                    ledger=ledger, wait_for_consumers=wait_for_consumers,
                )  # fmt: skip
        except BaseException as exc:
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            self._finish_ledger(ledger, stats, offsets, error_state, first_line[:500])
            raise
        self._finish_ledger(
            ledger, stats, offsets, "stopped" if stats.interrupted else "complete", None
        )
        return stats

    @staticmethod
    def _finish_ledger(
        ledger: RunLedger,
        stats: ProduceStats,
        offsets: dict[int, list[int]],
        state: str,
        message: str | None,
    ) -> None:
        try:
            ledger.progress(
                stats.counts(), {p: tuple(o) for p, o in offsets.items()},
                state=state, message=message,
            )  # fmt: skip
        except LedgerError as exc:
            log.error("could not record the run's end (%s) in the ledger: %s", state, exc)
            return
        log.info(
            "run ledger: %s, %d delivered, offsets per partition %s",
            state, stats.delivered,
            {p: f"{o[0]}..{o[1] - 1}" for p, o in sorted(offsets.items())},
        )  # fmt: skip

    def _wait_for_consumers(self, ledger: RunLedger, partitions: int, timeout: float) -> float:
        """Wait until a consumer is live on every partition (or ``timeout``); seconds waited."""
        started = time.perf_counter()
        wanted = set(range(partitions))
        live: frozenset[int] = frozenset()
        while time.perf_counter() - started < timeout and not self._stop_requested:
            try:
                progress = ledger.read()
            except LedgerError as exc:
                log.warning("%s: not waiting for the consumers", exc)
                break
            live = progress.consumers_live if progress else frozenset()
            if wanted <= live:
                waited = time.perf_counter() - started
                log.info("consumers live on all %d partitions after %.1fs", partitions, waited)
                return waited
            time.sleep(0.1)
        waited = time.perf_counter() - started
        log.warning(
            "consumers live on partitions %s of %d after %.0fs: producing anyway (the rest "
            "will catch up)", sorted(live), partitions, waited,
        )  # fmt: skip
        return waited

    def _produce(
        self,
        csv_path: Path | CsvFile,
        stats: ProduceStats,
        offsets: dict[int, list[int]],
        rate: float,
        max_events: int | None,
        skip: int,
        chunk_rows: int,
        *,
        ledger: RunLedger | None = None,
        wait_for_consumers: float = 0.0,
    ) -> ProduceStats:
        limiter = RateLimiter(rate)
        run_id = stats.run_id
        partitions = check_topic(self.kafka_config, self.topic)
        schema_id = self._register_contract(stats)  # before anything is produced
        framing = frame(schema_id, b"")
        producer = self._producer_factory(self.options.client_config(self.kafka_config))

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            # called once per event (the cost that is left in an unthrottled run): no more
            # than a count and the partition's offset range; per-partition counts at the end
            if err is None:
                stats.delivered += 1
                offset = msg.offset()
                seen = offsets.get(msg.partition())
                if seen is None:
                    offsets[msg.partition()] = [offset, offset + 1, 1]
                else:
                    if offset < seen[0]:
                        seen[0] = offset
                    if offset >= seen[1]:
                        seen[1] = offset + 1
                    seen[2] += 1
                return
            stats.failed += 1
            if len(stats.first_errors) < MAX_ERRORS_KEPT:
                stats.first_errors.append(f"key {msg.key()!r}: {err.str()}")

        source_header = ("source_file", csv_path.name.encode())
        run_header = ("run_id", run_id.encode())
        poll_every = 1 if rate else 500
        log.info(
            "producing %s to topic '%s' (%d partitions) at %s, max %s events, skip %d, run %s",
            csv_path,
            self.topic,
            partitions,
            f"{rate:g} events/s" if rate else "full speed (unthrottled)",
            max_events if max_events is not None else "all",
            skip,
            run_id,
        )
        index = 0
        # the next chunks are read and encoded in a thread while this one is sent
        batches = Prefetched(
            iter_event_batches(
                csv_path, chunk_rows=chunk_rows, skip=skip, max_events=max_events, typed=True
            )
        )
        next_progress = time.perf_counter() + self.progress_seconds
        limiter.start()
        try:
            for batch in batches:
                self._record_rejections(stats, batch.rejections)
                for kind, line in batch.skipped:
                    stats.skipped_lines.add(kind, line)
                stats.add_dropped(batch.dropped)
                for key, body, row in zip(batch.keys, batch.bodies, batch.rows):
                    if self._stop_requested:
                        break
                    if rate:
                        limiter.wait(index)
                    value = finish_event_now(body, framing)
                    headers = [source_header, ("row", b"%d" % row), run_header]
                    while True:
                        try:
                            producer.produce(
                                self.topic,
                                value=value,
                                key=key,
                                headers=headers,
                                on_delivery=on_delivery,
                            )
                            break
                        except BufferError:
                            producer.poll(0.05)  # local queue full: wait for deliveries
                        except KafkaException as exc:  # refused before sending, e.g. too large
                            stats.failed += 1
                            if len(stats.first_errors) < MAX_ERRORS_KEPT:
                                error = exc.args[0]
                                stats.first_errors.append(
                                    f"row {row}, key {key!r}: {error.str()} ({len(value)} bytes)"
                                )
                            log.error("row %d (key %r) not produced: %s", row, key, exc.args[0])
                            break
                    index += 1
                    if index == 1 and ledger is not None and wait_for_consumers > 0:
                        producer.flush(30)  # the first event lands: the sensor opens
                        stats.waited_for_consumers_seconds = self._wait_for_consumers(
                            ledger, partitions, wait_for_consumers
                        )
                        limiter.resume_at(index)
                    if index % poll_every == 0:
                        producer.poll(0)
                        now = time.perf_counter()
                        if now >= next_progress:
                            next_progress = now + self.progress_seconds
                            self._log_progress(stats, index, limiter.elapsed(), len(producer))
                if self._stop_requested:
                    stats.interrupted = True
                    log.warning("stop requested after %d events: flushing what was sent", index)
                    break
            if not self._stop_requested:
                limiter.finish(index)
        finally:
            batches.close()
            stats.sent = index
            stats.seconds = limiter.elapsed()  # the pace: until the last event's slot
            remaining = producer.flush(self.flush_timeout)
            stats.delivery_seconds = limiter.elapsed()  # until every delivery report
            kafka_clients.finish_log(producer)  # the library's repeated lines, counted
            stats.per_partition = {p: seen[2] for p, seen in sorted(offsets.items())}
            if remaining:
                stats.failed += remaining
                stats.first_errors.append(
                    f"{remaining} events still undelivered after {self.flush_timeout:.0f}s flush"
                )
        log.info(
            "%s; delivered %d, failed %d, rejected %d rows, per partition %s",
            stats.human_line(),
            stats.delivered,
            stats.failed,
            stats.rejected,
            stats.to_dict()["per_partition"],
        )
        if stats.skipped_lines.total:
            log.info("%s", describe_skipped(stats.skipped_lines.to_dict()))
        dropped = stats.dropped_line()
        if dropped:
            log.info("%s", dropped)
        if stats.failed:
            raise ProduceError(
                f"{stats.failed} of {stats.sent} events were not delivered to '{self.topic}'; "
                f"first errors: {stats.first_errors[:3]}. Check the broker (make status, "
                ".local/logs/kafka.log) and re-run: delivered events are keyed, and the "
                "sink's upsert by loan id makes a re-run safe",
                stats,
            )
        return stats

    def _register_contract(self, stats: ProduceStats) -> int:
        """Register the contract as the topic's value schema; its id (``ProduceError`` when the
        registry refuses it or cannot be reached: nothing has been produced)."""
        try:
            registered = ValueSchemas(self.schema_registry_url).register(self.topic, schema_text())
        except RegistryError as exc:
            raise ProduceError(f"{exc}. Nothing was produced.", stats) from None
        stats.value_schema = {
            "subject": registered.subject,
            "id": registered.schema_id,
            "contract": f"{NAME} v{VERSION}",
            "registry": self.schema_registry_url,
        }
        log.info(
            "value schema: %s v%d registered as %s, id %d (BACKWARD) at %s",
            NAME, VERSION, registered.subject, registered.schema_id, self.schema_registry_url,
        )  # fmt: skip
        return registered.schema_id

    def _record_rejections(self, stats: ProduceStats, rejections: list[Rejection]) -> None:
        for rejection in rejections:
            stats.rejected += 1
            if len(stats.rejections) < MAX_ERRORS_KEPT:
                stats.rejections.append({"row": rejection.row, "reason": rejection.reason})
                log.warning("row %d rejected: %s", rejection.row, rejection.reason)

    @staticmethod
    def _log_progress(stats: ProduceStats, sent: int, elapsed: float, queued: int) -> None:
        log.info(
            "progress: sent %d events in %.1fs (%.0f eps), delivered %d, failed %d, queued %d",
            sent,
            elapsed,
            sent / elapsed if elapsed else 0.0,
            stats.delivered,
            stats.failed,
            queued,
        )
