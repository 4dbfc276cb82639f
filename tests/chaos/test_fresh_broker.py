"""A brand-new broker: the lag check's Kafka side must answer, not crash the worker process.

The first lag implementation used the Admin API's ``list_consumer_group_offsets``; on a broker
whose group coordinator was still loading, confluent-kafka segfaulted the task (seen in CI
as a SIGSEGV in ``wait_for_events``). The check runs in a subprocess so a crash is a failure
of this test, not of the test session.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from loanstream.kafka.topics import ensure_topic
from tests.chaos.services import PrivateKafka, private_dir

pytestmark = pytest.mark.chaos

CHECK = """
import json
import os
from loanstream.runs.lag import LagError, topic_watermarks
config = json.loads(os.environ["CHECK_KAFKA_CONFIG"])  # the login: never in argv
for _ in range(5):
    try:
        print(topic_watermarks(config, "fresh"))
    except LagError as exc:
        print("lag error:", exc)
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
        ensure_topic(kafka.admin_config(), "fresh", partitions=3, use_rpk=False)
        proc = subprocess.run(
            [sys.executable, "-c", CHECK],
            env={**os.environ, "CHECK_KAFKA_CONFIG": json.dumps(kafka.admin_config())},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        kafka.stop()
        shutil.rmtree(base, ignore_errors=True)
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-2000:]}"
    # every check answers with the offsets of the empty topic (an error would not do)
    assert proc.stdout.count("{0: (0, 0), 1: (0, 0), 2: (0, 0)}") == 5, proc.stdout
