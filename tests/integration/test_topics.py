"""Topic creation on the real broker: Admin API, the rpk path, idempotence, wrong layouts."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from loanstream.config import Settings
from loanstream.kafka.topics import TopicError, ensure_topic, rpk_create_command
from tests.helpers import unique_name
from tests.resources import delete_topics

pytestmark = pytest.mark.integration

FAKE_RPK = """#!{python}
# Stands in for rpk's CLI (rpk cannot be installed here); the topic is created on the real
# broker through the Admin API with exactly the arguments rpk was given, and the login rpk
# reads from its environment (RPK_USER, RPK_PASS, RPK_SASL_MECHANISM: never on its argv).
import json, os, sys
from confluent_kafka.admin import AdminClient, NewTopic
args = sys.argv[1:]
open({log!r}, "a").write(json.dumps(args) + "\\n")
assert args[:2] == ["topic", "create"], args
topic = args[2]
opts = dict(zip(args[3::2], args[4::2]))
brokers = opts["-X"].split("=", 1)[1]
key, value = opts["--topic-config"].split("=", 1)
new = NewTopic(topic, num_partitions=int(opts["--partitions"]),
               replication_factor=int(opts["--replicas"]), config={{key: value}})
login = {{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": os.environ["RPK_SASL_MECHANISM"],
         "sasl.username": os.environ["RPK_USER"], "sasl.password": os.environ["RPK_PASS"]}}
admin = AdminClient({{"bootstrap.servers": brokers, **login}})
admin.create_topics([new])[topic].result(10)
print(f"TOPIC  STATUS\\n{{topic}}  OK")
"""


def retention_of(settings: Settings, topic: str) -> str:
    admin = AdminClient(settings.kafka_config())
    resource = ConfigResource("topic", topic)
    configs = admin.describe_configs([resource])[resource].result(10)
    return configs["retention.ms"].value


def delete(settings: Settings, topic: str) -> None:
    assert delete_topics(settings.kafka_config(), [topic]) == []


def test_admin_api_creates_then_passes_then_refuses_a_wrong_layout(live_settings: Settings) -> None:
    topic = unique_name("topic")
    config = live_settings.kafka_config()
    try:
        first = ensure_topic(config, topic, partitions=3, retention_ms=604_800_000, use_rpk=False)
        assert (first.created, first.method, first.partitions) == (True, "admin-api", 3)
        assert retention_of(live_settings, topic) == "604800000"
        again = ensure_topic(config, topic, partitions=3, use_rpk=False)
        assert (again.created, again.partitions) == (False, 3)
        # replication follows the cluster (one broker in the default stack) and is read back
        for result in (first, again):
            assert result.replication == min(3, result.brokers)
            assert result.min_insync_replicas == (2 if result.brokers >= 3 else 1)
        with pytest.raises(TopicError, match="exists with 3 partitions but 5 were asked for"):
            ensure_topic(config, topic, partitions=5, use_rpk=False)
    finally:
        delete(live_settings, topic)


def test_rpk_is_used_where_installed(
    live_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "rpk-calls.jsonl"
    rpk = tmp_path / "rpk"
    rpk.write_text(FAKE_RPK.format(python=sys.executable, log=str(log)))
    rpk.chmod(rpk.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}:{__import__('os').environ['PATH']}")
    topic = unique_name("rpktopic")
    try:
        result = ensure_topic(live_settings.kafka_config(), topic, partitions=3)
        assert (result.method, result.created, result.partitions) == ("rpk", True, 3)
        (call,) = [json.loads(line) for line in log.read_text().splitlines()]
        assert call == rpk_create_command("rpk", topic, 3, 1, 604_800_000,
                                          live_settings.bootstrap_servers)[1:]  # fmt: skip
        assert retention_of(live_settings, topic) == "604800000"
        # an existing topic is not created again, whatever the tool
        assert ensure_topic(live_settings.kafka_config(), topic, partitions=3).created is False
    finally:
        delete(live_settings, topic)


def test_rpk_can_be_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    from loanstream.kafka.topics import find_rpk

    monkeypatch.setenv("LOANSTREAM_RPK", "none")
    assert find_rpk() is None
