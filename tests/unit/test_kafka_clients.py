"""The collapsing log of a Kafka client (loanstream.kafka.clients.ClientLog), without a broker:
lines fed as confluent-kafka feeds them, a fake clock. tests/integration/test_kafka_logs.py
points real clients at a closed port."""

from __future__ import annotations

import logging
import secrets

import pytest

from loanstream.kafka import clients as kafka_clients
from loanstream.kafka.clients import ClientLog, normalise
from loanstream.kafka.topics import rpk_create_command

pytestmark = pytest.mark.unit

REFUSED = (
    "[thrd:127.0.0.1:9092/bootstrap]: 127.0.0.1:9092/bootstrap: Connect to "
    "ipv4#127.0.0.1:9092 failed: Connection refused (after {ms}ms in state CONNECT)"
)
DOWN = "1/1 brokers are down"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @property
    def lines(self) -> list[str]:
        return [r.getMessage() for r in self.records]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def client_log(recorder: Recorder, clock: Clock, **kwargs: object) -> ClientLog:
    logger = logging.getLogger("test.kafka_clients")
    logger.handlers = [recorder]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return ClientLog("Kafka admin client (topic 't')", logger, clock=clock, **kwargs)  # type: ignore[arg-type]


def feed(log: ClientLog, text: str, level: int = logging.ERROR, facility: str = "FAIL") -> None:
    """As confluent-kafka calls a ``logger``."""
    log.log(level, "%s [%s] %s", facility, "rdkafka#producer-1", text)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (REFUSED.format(ms=0), REFUSED.format(ms=1234)),
        ("Connect to ipv4#127.0.0.1:9092 failed (after 3ms, 1 identical error(s) suppressed)",
         "Connect to ipv4#127.0.0.1:9092 failed (after 10ms, 12 identical error(s) suppressed)"),
        ("retrying in 1.5s (attempt 2)", "retrying in 0.25s (attempt 17)"),
    ],
)
def test_normalise_ignores_varying_numbers(a: str, b: str) -> None:
    assert normalise(a) == normalise(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Connect to ipv4#127.0.0.1:9092 failed", "Connect to ipv4#127.0.0.1:9094 failed"),
        ("Connect to ipv4#127.0.0.1:9092 failed", "Connect to ipv4#10.0.0.2:9092 failed"),
        ("broker/1: Disconnected", "broker/2: Disconnected"),
        ("Connection refused", "Name or service not known"),
    ],
)
def test_normalise_keeps_what_tells_lines_apart(a: str, b: str) -> None:
    assert normalise(a) != normalise(b)


def test_repeats_collapse_to_one_line_and_a_count(recorder: Recorder) -> None:
    clock = Clock()
    log = client_log(recorder, clock)
    for i in range(194):
        feed(log, REFUSED.format(ms=i % 3))
        clock.now += 0.05
    assert recorder.lines == [
        "Kafka admin client (topic 't'): FAIL: 127.0.0.1:9092/bootstrap: Connect to "
        "ipv4#127.0.0.1:9092 failed: Connection refused (after 0ms in state CONNECT)"
    ]
    log.flush()
    assert len(recorder.lines) == 2
    assert recorder.lines[1].startswith("Kafka admin client (topic 't'): repeated 193 times in 9.6 s: ")
    log.flush()  # nothing new: nothing written
    assert len(recorder.lines) == 2
    # library errors are warnings: the task's own message is the ERROR line
    assert {r.levelno for r in recorder.records} == {logging.WARNING}


def test_a_failure_reported_as_log_line_and_as_error_counts_once(recorder: Recorder) -> None:
    clock = Clock()
    log = client_log(recorder, clock)

    class Err:
        def __init__(self, text: str, name: str) -> None:
            self._text, self._name = text, name

        def str(self) -> str:
            return self._text

        def name(self) -> str:
            return self._name

    for i in range(10):
        feed(log, REFUSED.format(ms=i))
        log.error(Err(REFUSED.format(ms=i).split("]: ", 1)[1], "_TRANSPORT"))  # type: ignore[arg-type]
        clock.now += 0.5
    log.error(Err(DOWN, "_ALL_BROKERS_DOWN"))  # type: ignore[arg-type]
    log.flush()
    assert recorder.lines[0].endswith("(after 0ms in state CONNECT)")
    assert recorder.lines[1].startswith("Kafka admin client (topic 't'): repeated 9 times in 4.5 s")
    assert recorder.lines[2] == f"Kafka admin client (topic 't'): _ALL_BROKERS_DOWN: {DOWN}"
    assert len(recorder.lines) == 3
    assert log.lines == {recorder.lines[0].split("FAIL: ", 1)[1]: 10, DOWN: 1}


def test_a_new_line_first_writes_the_count_of_the_one_before(recorder: Recorder) -> None:
    clock = Clock()
    log = client_log(recorder, clock)
    feed(log, REFUSED.format(ms=0))
    clock.now += 1
    feed(log, REFUSED.format(ms=1))
    clock.now += 1
    feed(log, "127.0.0.1:9092/1: Disconnected (after 5012ms in state UP)", logging.INFO, "FAIL")
    feed(log, REFUSED.format(ms=2))
    log.flush()
    assert [line.split(": ", 1)[1][:20] for line in recorder.lines] == [
        "FAIL: 127.0.0.1:9092",
        "repeated 1 time in 1",
        "FAIL: 127.0.0.1:9092",
        "repeated 1 time in 1",  # the refusal again: 1 s after the last one counted above
    ]
    assert recorder.records[2].levelno == logging.INFO


def test_a_line_that_goes_on_gets_its_count_every_summary_period(recorder: Recorder) -> None:
    clock = Clock()
    log = client_log(recorder, clock, summary_seconds=60)
    for _ in range(300):  # 150 s of one refusal every 0.5 s
        feed(log, REFUSED.format(ms=0))
        clock.now += 0.5
    counts = [line for line in recorder.lines if "repeated" in line]
    assert [c.split(": ")[1] for c in counts] == ["repeated 120 times in 60.0 s"] * 2
    log.flush()
    assert recorder.lines[-1].split(": ")[1] == "repeated 59 times in 29.5 s"


def test_lines_handed_over_together_carry_no_span(recorder: Recorder) -> None:
    log = client_log(recorder, Clock())
    for i in range(5):
        feed(log, REFUSED.format(ms=i))
    log.flush()
    assert recorder.lines[-1].split(": ")[1] == "repeated 4 times"


def test_secrets_never_written(recorder: Recorder) -> None:
    log = client_log(recorder, Clock(), secrets=("s3cr3t-pw",))
    feed(log, "SASL authentication for user x with password s3cr3t-pw failed")
    assert "s3cr3t-pw" not in recorder.lines[0] and "***" in recorder.lines[0]


def test_settings_get_the_logger_on_a_copy_only() -> None:
    """The caller's dict (what rpk's command line and a serialised trigger see) is unchanged."""
    password = secrets.token_hex(8)
    config = {"bootstrap.servers": "127.0.0.1:9", "sasl.password": password}
    log = kafka_clients.client_log(config, "admin client", "topic 't'")
    settings = kafka_clients._settings(config, log, None)
    assert settings["logger"] is log and callable(settings["error_cb"])
    assert config == {"bootstrap.servers": "127.0.0.1:9", "sasl.password": password}
    assert log.secrets == (password,)
    command = " ".join(rpk_create_command("rpk", "t", 3, 1, 1000, config["bootstrap.servers"]))
    assert "logger" not in command and password not in command


def test_serving_refuses_a_consumer() -> None:
    consumer = kafka_clients.consumer({"bootstrap.servers": "127.0.0.1:9", "group.id": "g"})
    try:
        with pytest.raises(TypeError, match="cannot serve a Consumer"):
            with kafka_clients.serving(consumer):
                pass
    finally:
        consumer.close()
