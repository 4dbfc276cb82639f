"""The three-node cluster (devstack's ``KafkaCluster``, the layout of
``LOANSTREAM_KAFKA_BROKERS=3 make up``) runs with the authorizer and authenticated listeners
only: nodes replicate to each other over SCRAM (an ``acks=all`` write to a topic of replication
3 and ``min.insync.replicas`` 2 needs two of them), an anonymous client gets nothing, and the
producer role is refused the scored topic on every node."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient

from loanstream.config import Settings
from loanstream.kafka.topics import ensure_topic
from tests.chaos.services import PrivateKafkaCluster, provision_roles
from tests.resources import delete_topics, unique_name

pytestmark = pytest.mark.cluster


def _send(config: dict, topic: str, n: int = 20) -> str | None:
    errors: list[str] = []
    producer = Producer({**config, "enable.idempotence": True, "acks": "all", "message.timeout.ms": 20000})
    try:
        for i in range(n):
            producer.produce(topic, key=str(i), value=b"{}",
                             on_delivery=lambda err, _m: err and errors.append(err.name()))  # fmt: skip
        producer.flush(30)
    except KafkaException as exc:
        return exc.args[0].name()
    return errors[0] if errors else None


def test_the_cluster_authorizes_and_authenticates_every_listener(cluster_up: PrivateKafkaCluster) -> None:
    cluster = cluster_up
    for node in cluster.nodes:
        text = node.props.read_text()
        assert "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer" in text
        assert "allow.everyone.if.no.acl.found=false" in text
        assert "PLAINTEXT://" not in text.replace("SASL_PLAINTEXT", "")
    with pytest.raises(KafkaException):
        AdminClient({"bootstrap.servers": cluster.bootstrap, "log_level": 0}).list_topics(timeout=5)
    assert len(AdminClient(cluster.admin_config()).list_topics(timeout=10).brokers) == 3

    roles = provision_roles(cluster)
    settings = Settings()
    topic = unique_name("cluster_acl")
    try:
        layout = ensure_topic(cluster.admin_config(), topic, partitions=3, use_rpk=False)
        assert (layout.replication, layout.min_insync_replicas) == (3, 2)
        ensure_topic(cluster.admin_config(), settings.scored_topic, partitions=3, use_rpk=False)
        assert _send(roles["producer"], topic) is None  # replicated between nodes over SCRAM
        assert _send(roles["producer"], settings.scored_topic) == "TOPIC_AUTHORIZATION_FAILED"
        assert _send(roles["watcher"], topic) in ("CLUSTER_AUTHORIZATION_FAILED", "TOPIC_AUTHORIZATION_FAILED")
    finally:
        delete_topics(cluster.admin_config(), [topic, settings.scored_topic])
