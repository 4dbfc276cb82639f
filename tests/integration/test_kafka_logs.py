"""With Kafka down, a client's log reads well: librdkafka's own lines come through Python
logging (nothing raw on stderr), each distinct line once and then its count, and the task's
own message is the last, and only, ERROR line. Real clients against a closed port (no broker
needed): the create-topic admin client, the producer and the sink."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from loanstream.kafka.topics import TopicError, ensure_topic
from loanstream.produce.producer import EventProducer, ProduceError, ProducerOptions
from loanstream.sink import ScoringSink, SinkError

pytestmark = pytest.mark.integration

REFUSED = "Connection refused"
COUNT = re.compile(r": repeated (\d+) times(?: in (\d+\.\d) s)?: ")


@pytest.fixture
def closed_port() -> str:
    """An address where nothing listens (connections are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"127.0.0.1:{port}"


def fail_like_a_task(call: Callable[[], object], error: type[Exception]) -> str:
    """Run ``call``; log its error as a task does (what failed, what to do next)."""
    with pytest.raises(error) as raised:
        call()
    logging.getLogger("loanstream.task").error("%s", raised.value)
    return str(raised.value)


def check_log(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture, client: str) -> int:
    """The refusal once, then one count; the task's error last; nothing raw on stderr.
    Returns the count."""
    records = [r for r in caplog.records if r.name.startswith("loanstream")]
    kafka = [r for r in records if r.name == "loanstream.kafka"]
    refused = [r.getMessage() for r in kafka if REFUSED in r.getMessage()]
    assert len(refused) == 2, refused
    assert refused[0].startswith(f"Kafka {client}") and "Connect to ipv4#127.0.0.1" in refused[0]
    count = COUNT.search(refused[1])
    assert count is not None and int(count.group(1)) >= 10, refused[1]
    assert len(kafka) <= 6, [r.getMessage() for r in kafka]  # distinct lines and their counts
    errors = [r for r in records if r.levelno >= logging.ERROR]
    assert errors == [records[-1]] and records[-1].name == "loanstream.task"
    out, err = capfd.readouterr()
    assert "Connect to" not in err and "Connect to" not in out, err[-500:]
    assert "rdkafka" not in err, err[-500:]
    return int(count.group(1))


def test_create_topic_with_kafka_down(closed_port: str, caplog, capfd) -> None:
    caplog.set_level(logging.INFO)
    message = fail_like_a_task(
        lambda: ensure_topic({"bootstrap.servers": closed_port}, "t_down", use_rpk=False),
        TopicError,
    )
    assert f"cannot reach Kafka at {closed_port}" in message and "make up" in message
    # one attempt every ~50 ms for the 10 s metadata wait: ~194 before, one count now
    assert check_log(caplog, capfd, "admin client (topic 't_down')") >= 50


def test_producer_with_kafka_down(closed_port: str, shared_csv: Path, resources, live_settings,
                                  caplog, capfd) -> None:  # fmt: skip
    """The producer's own client: the topic check passes on the real broker, the producer's
    client (its bootstrap overridden) finds the closed port; every event times out, its
    repeated connection errors counted once."""
    caplog.set_level(logging.INFO)
    topic = resources.topic("down", partitions=1)
    producer = EventProducer(
        live_settings.kafka_config(), topic,
        options=ProducerOptions(delivery_timeout_ms=3000, extra={"bootstrap.servers": closed_port}),
        flush_timeout=6,
    )  # fmt: skip
    message = fail_like_a_task(
        lambda: producer.produce_csv(shared_csv, max_events=5), ProduceError
    )
    assert "5 of 5 events were not delivered" in message
    check_log(caplog, capfd, f"producer (produce to '{topic}')")


def test_sink_with_kafka_down(closed_port: str, caplog, capfd) -> None:
    caplog.set_level(logging.INFO)
    sink = ScoringSink({"bootstrap.servers": closed_port}, "postgresql://unused", "t_down")
    message = fail_like_a_task(lambda: sink.run(idle_timeout=1), SinkError)
    assert f"cannot reach Kafka at {closed_port}" in message
    check_log(caplog, capfd, "admin client (topic 't_down')")
