"""A brand-new broker: the sensor's lag check must answer, not crash the worker process.

The first lag implementation used the Admin API's ``list_consumer_group_offsets``; on a broker
whose group coordinator was still loading, confluent-kafka segfaulted the task (seen in CI
as a SIGSEGV in ``wait_for_events``). The check runs in a subprocess so a crash is a failure
of this test, not of the test session; it must also answer correctly (five times, once the
coordinator has loaded), so a check that only ever errors fails too.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from loanstream.topics import ensure_topic
from tests.chaos.services import PrivateKafka, private_dir

pytestmark = pytest.mark.chaos

ANSWER = "{0: 0, 1: 0, 2: 0}"  # nothing produced, nothing committed: no lag on 3 partitions
CHECK = """
import sys, time, uuid
from loanstream.lag import LagError, consumer_lag
config = {"bootstrap.servers": sys.argv[1]}
answers = 0
for _ in range(60):  # errors while the coordinator loads are fine; it must answer in the end
    try:
        print(consumer_lag(config, "fresh", "g" + uuid.uuid4().hex[:6]), flush=True)
    except LagError as exc:
        print("lag error:", exc, flush=True)
        time.sleep(1)
        continue
    answers += 1
    if answers == 5:
        break
"""


@pytest.mark.timeout(180)
def test_lag_on_a_fresh_broker_does_not_crash() -> None:
    base = private_dir("fresh-kafka")
    kafka = PrivateKafka(base)
    # Kafka's default 50 offsets partitions: the coordinator takes longest to load on first use.
    props = kafka.props.read_text().replace(
        "offsets.topic.num.partitions=10", "offsets.topic.num.partitions=50"
    )
    kafka.props.write_text(props)
    try:
        kafka.start()
        ensure_topic({"bootstrap.servers": kafka.bootstrap}, "fresh", partitions=3, use_rpk=False)
        proc = subprocess.run(
            [sys.executable, "-c", CHECK, kafka.bootstrap],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        kafka.stop()
        shutil.rmtree(base, ignore_errors=True)
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-2000:]}"
    lines = proc.stdout.splitlines()
    assert all(line == ANSWER or line.startswith("lag error: ") for line in lines), lines
    assert lines.count(ANSWER) == 5, lines  # the check answers, not only survives
