"""A private three-node Kafka cluster for the cluster tests; the shared stack is never touched.

``kafka_cluster``: three combined broker+controller KRaft nodes from the jars of ``make up``
(``tests/chaos/services.py``: PrivateKafkaCluster, the node layout of
``infra/kafka/cluster.properties.in``) on free ports, 256 MiB of heap each, started once per
session and stopped (and checked: no process left) at its end. Rows go to a fresh schema of
the shared Postgres per trial (``tests/helpers.temp_schema``), dropped afterwards.

``LOANSTREAM_CHAOS_TRIALS`` sets the trials (default 1 here: ``make test``; ``make chaos``: 20).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chaos.services import PrivateKafkaCluster, running_kafka_cluster


@pytest.fixture(scope="session")
def kafka_cluster() -> Iterator[PrivateKafkaCluster]:
    with running_kafka_cluster("cluster") as cluster:
        yield cluster


@pytest.fixture
def cluster_up(kafka_cluster: PrivateKafkaCluster) -> PrivateKafkaCluster:
    """The private cluster with all three nodes up (a node an earlier test left down restarted)."""
    if not all(node.alive() for node in kafka_cluster.nodes):
        kafka_cluster.start()
    return kafka_cluster
