"""Kafka clients built in one place, their library's log lines routed through Python logging.

Left alone, librdkafka writes its own lines to stderr: with the broker down, a task's log
held ~200 copies of ``Connect to ipv4#127.0.0.1:9092 failed: Connection refused`` (one per
reconnect attempt) before the task's own explanation. Every client loanstream makes comes
from here instead (:func:`admin`, :func:`producer`, :func:`consumer`): the librdkafka
settings are copied and given a ``logger`` and an ``error_cb`` that feed a :class:`ClientLog`,
which writes to the ``loanstream.kafka`` logger (so into the Airflow task log) and collapses
repeats: each distinct line once, when first seen, then ``repeated N times in T s`` when
another line comes, every ``summary_seconds`` while it goes on, and when the client is done.
The library's errors are logged as warnings: it retries them, and the task's own message
(what failed, what to do next) is the ERROR line that ends a failed task's log.

confluent-kafka hands log lines and errors over on ``poll()`` (``flush()``, ``consume()``,
``close()``), not when they happen. An admin client blocks in metadata calls without polling:
:func:`admin_client` serves it from a thread for its whole life (:func:`serving`), so its
lines come as they happen. A consumer cannot be served so (its metadata calls hang while
another thread polls it): the sink and the lag read metadata with an admin client first, and
a consumer's lines come with its ``consume`` and ``close``.

The caller's settings dict is never changed (``rpk`` and serialised triggers see it as given).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient

LOG = logging.getLogger("loanstream.kafka")

SUMMARY_SECONDS = 60.0
SECRET_KEYS = ("sasl.password", "ssl.key.password", "ssl.keystore.password")

# Numbers that vary between repeats of one line: durations, counts, attempt numbers. Not the
# parts of an address (ipv4#127.0.0.1:9092, broker/1), which tell the lines apart.
_VARYING = re.compile(r"(?<![\w.:/#-])\d+(?:\.\d+)?(?:ms|us|s)?(?![\w.:/])")
_THREAD = re.compile(r"^\[thrd:[^\]]*\]:\s*")


def normalise(text: str) -> str:
    """The part of a library line that stays the same between its repeats."""
    return _VARYING.sub("N", _THREAD.sub("", text.strip()))


def _python_level(level: int) -> int:
    """The library retries what it calls an error: a warning here (the task decides)."""
    return logging.WARNING if level >= logging.WARNING else level


@dataclass
class _Line:
    text: str
    level: int
    since: float  # when the line was last written (first sight or last summary)
    last: float
    counts: dict[str, int] = field(default_factory=dict)  # per channel: log lines, errors
    reported: int = 1  # occurrences written so far (the first sight, then summaries)

    @property
    def seen(self) -> int:
        # one failure arrives both as a log line and as an error: count it once
        return max(self.counts.values())

    @property
    def pending(self) -> int:
        return self.seen - self.reported


class ClientLog:
    """The log of one client: what confluent-kafka's ``logger`` and ``error_cb`` call.

    :param client: how lines name the client (``Kafka admin client (create topic)``).
    :param logger: where lines go (default ``loanstream.kafka``).
    :param secrets: strings never to write (the config's passwords), replaced by ``***``.
    :param summary_seconds: longest time a repeating line goes without its count.
    :param clock: seconds, monotonic (tests pass their own).
    """

    def __init__(
        self,
        client: str,
        logger: logging.Logger | None = None,
        *,
        secrets: tuple[str, ...] = (),
        summary_seconds: float = SUMMARY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.logger = logger or LOG
        self.secrets = tuple(s for s in secrets if len(s) >= 3)
        self.summary_seconds = summary_seconds
        self.clock = clock
        self._lines: dict[str, _Line] = {}
        self._lock = threading.Lock()

    # -- what confluent-kafka calls -----------------------------------------------------------

    def log(self, level: int, msg: str, *args: Any) -> None:
        """``logging.Logger.log``'s signature: confluent-kafka passes ``"%s [%s] %s"`` with the
        facility, the client's name and the text."""
        if len(args) == 3 and msg == "%s [%s] %s":
            facility, _name, text = args
        else:
            facility, text = "", (msg % args if args else msg)
        self.record(level, str(text), channel="log", tag=str(facility))

    def error(self, err: KafkaError) -> None:
        """``error_cb``: the same failure as the log line beside it, with the error's name."""
        self.record(logging.ERROR, err.str(), channel="error", tag=err.name())

    # -- collapsing ---------------------------------------------------------------------------

    def record(self, level: int, text: str, *, channel: str = "log", tag: str = "") -> None:
        """One line from the library: written if new, else counted."""
        text = self._scrub(_THREAD.sub("", text.strip()))
        key = normalise(text)
        now = self.clock()
        with self._lock:
            line = self._lines.get(key)
            if line is None:
                self._summarise(now)  # what repeated so far comes before the new line
                self._lines[key] = _Line(text, _python_level(level), now, now, {channel: 1})
                self.logger.log(
                    _python_level(level), "%s: %s%s", self.client, f"{tag}: " if tag else "", text
                )
                return
            line.counts[channel] = line.counts.get(channel, 0) + 1
            line.last = now
            if line.pending and now - line.since >= self.summary_seconds:
                self._write_summary(line, now)

    def flush(self) -> None:
        """Write the counts of every line repeated since it was last written (client done)."""
        with self._lock:
            self._summarise(self.clock())

    def _summarise(self, now: float) -> None:
        for line in self._lines.values():
            if line.pending:
                self._write_summary(line, now)

    def _write_summary(self, line: _Line, now: float) -> None:
        count, span = line.pending, line.last - line.since
        # lines handed over together (by a close) carry no useful span
        during = f" in {span:.1f} s" if span >= 0.05 else ""
        self.logger.log(
            line.level,
            "%s: repeated %d time%s%s: %s",
            self.client, count, "" if count == 1 else "s", during, line.text,
        )  # fmt: skip
        line.reported = line.seen
        line.since = line.last

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    @property
    def lines(self) -> dict[str, int]:
        """Each distinct line and how often it came (for tests and callers' summaries)."""
        with self._lock:
            return {line.text: line.seen for line in self._lines.values()}


# -- the clients ---------------------------------------------------------------------------------


class _Logged:
    """What the loanstream clients add: their ``client_log``, and ``finish_log``."""

    client_log: ClientLog

    def finish_log(self, timeout: float = 0.0) -> None:
        """Take the lines the library still holds (``poll``) and write the pending counts."""
        with contextlib.suppress(RuntimeError):  # a closed client has nothing left
            self.poll(timeout)  # type: ignore[attr-defined]
        self.client_log.flush()


class LoggedAdminClient(_Logged, AdminClient):
    pass


class LoggedProducer(_Logged, Producer):
    pass


class LoggedConsumer(_Logged, Consumer):
    def finish_log(self, timeout: float = 0.0) -> None:
        self.client_log.flush()  # a consumer's poll() could return a message: close() serves

    def close(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().close(*args, **kwargs)  # serves what the library still holds
        finally:
            self.client_log.flush()


def _settings(
    config: Mapping[str, Any], log: ClientLog, on_error: Callable[[KafkaError], None] | None
) -> dict[str, Any]:
    def error_cb(err: KafkaError) -> None:
        log.error(err)
        if on_error is not None:
            on_error(err)

    return {**config, "logger": log, "error_cb": error_cb}


def client_log(config: Mapping[str, Any], kind: str, purpose: str) -> ClientLog:
    secrets = tuple(str(config.get(key) or "") for key in SECRET_KEYS)
    return ClientLog(f"Kafka {kind} ({purpose})" if purpose else f"Kafka {kind}", secrets=secrets)


def admin(config: Mapping[str, Any], purpose: str = "") -> LoggedAdminClient:
    """An AdminClient whose library lines go through a :class:`ClientLog` (see
    :func:`admin_client` for one that is also served while it blocks)."""
    log = client_log(config, "admin client", purpose)
    client = LoggedAdminClient(_settings(config, log, None))
    client.client_log = log
    return client


def producer(
    config: Mapping[str, Any],
    purpose: str = "",
    *,
    on_error: Callable[[KafkaError], None] | None = None,
) -> LoggedProducer:
    """A Producer whose library lines go through a :class:`ClientLog`; ``on_error`` also gets
    each error. Served by the producer's own ``poll``/``flush``; ``finish_log()`` at the end."""
    log = client_log(config, "producer", purpose)
    client = LoggedProducer(_settings(config, log, on_error))
    client.client_log = log
    return client


def consumer(config: Mapping[str, Any], purpose: str = "") -> LoggedConsumer:
    """A Consumer whose library lines go through a :class:`ClientLog` (served by ``poll``,
    ``consume`` and ``close``; its counts written at ``close``)."""
    log = client_log(config, "consumer", purpose)
    client = LoggedConsumer(_settings(config, log, None))
    client.client_log = log
    return client


@contextlib.contextmanager
def serving(client: Any, interval: float = 0.02) -> Iterator[Any]:
    """Serve ``client``'s log lines from a thread while the caller blocks (a metadata call):
    an admin client or a producer. Never a consumer: its ``list_topics`` waits forever while
    another thread polls it (confluent-kafka 2.16); a consumer is served by its own
    ``consume``/``close``. Leaving waits for the thread's poll in progress: ``interval`` is
    short (at 0.1 s each admin client's use took 0.05 s longer on average)."""
    if isinstance(client, Consumer):
        raise TypeError("serving() cannot serve a Consumer (its metadata calls would hang)")
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                client.poll(interval)
            except RuntimeError:  # closed under us
                return

    thread = threading.Thread(target=run, name="loanstream-kafka-log", daemon=True)
    thread.start()
    try:
        yield client
    finally:
        stop.set()
        thread.join(timeout=5)


@contextlib.contextmanager
def admin_client(config: Mapping[str, Any], purpose: str = "") -> Iterator[LoggedAdminClient]:
    """An admin client served for its whole life; its lines' counts written at the end,
    before an exception leaves (so the caller's own error comes last)."""
    client = admin(config, purpose)
    try:
        with serving(client):
            yield client
    finally:
        client.finish_log()


def finish_log(client: Any) -> None:
    """``client.finish_log()`` for a loanstream client; nothing for any other."""
    finish = getattr(client, "finish_log", None)
    if callable(finish):
        finish()
