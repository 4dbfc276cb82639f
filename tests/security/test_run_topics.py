"""A run aimed at a topic runs may not use fails in ``run_params``, before anything is read,
created, registered or produced, and its log names the rule."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, TopicPartition

from loanstream.config import Settings
from tests.resources import unique_name

pytestmark = [pytest.mark.security, pytest.mark.e2e]

DAG_ID = "loan_stream_pipeline"
NOT_STARTED = {"upstream_failed", "None", "none", None}


def _end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    consumer = Consumer(settings.kafka_config(**{"group.id": unique_name("ends")}))
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return {}
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in metadata.partitions
        }
    finally:
        consumer.close()


def _versions(settings: Settings, subject: str) -> list[int]:
    """The subject's schema versions in the registry ([] when it has none)."""
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    try:
        return SchemaRegistryClient({"url": settings.schema_registry_url}).get_versions(subject)
    except SchemaRegistryError as exc:
        if exc.http_status_code == 404:
            return []
        raise


@pytest.mark.parametrize(
    ("topic", "rule"),
    [
        (None, "is the scored topic (LOANSTREAM_SCORED_TOPIC)"),  # the scored topic
        ("__consumer_offsets", "names starting with '_' or '-' are reserved"),
    ],
    ids=["scored-topic", "consumer-offsets"],
)
def test_a_run_aimed_at_a_forbidden_topic_fails_in_run_params(
    dag_runner, settings: Settings, topic: str | None, rule: str
) -> None:
    topic = topic or settings.scored_topic
    ends_before = _end_offsets(settings, settings.scored_topic)
    versions_before = _versions(settings, f"{topic}-value")
    run_id = dag_runner.trigger(
        DAG_ID, {"csv_path": str(settings.sample_csv), "rate": 0, "max_events": 50, "topic": topic}
    )
    assert dag_runner.wait(DAG_ID, run_id, timeout=300) == "failed"
    states = dag_runner.task_states(DAG_ID, run_id)
    assert states["run_params"] == "failed", states
    for task in ("validate_csv", "create_topic", "produce_events", "summarize"):
        assert states.get(task) in NOT_STARTED, states
    log = dag_runner.log(DAG_ID, run_id, "run_params")
    assert rule in log, log[-3000:]
    # nothing reached the scored topic, and no producer got as far as registering a schema
    assert _end_offsets(settings, settings.scored_topic) == ends_before
    assert _versions(settings, f"{topic}-value") == versions_before
