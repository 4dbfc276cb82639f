"""Replication of loanstream topics follows the cluster: min(3, brokers), min ISR 2 at three."""

from __future__ import annotations

import pytest

from loanstream.kafka.topics import (
    TopicError,
    TopicResult,
    replication_for,
    rpk_create_command,
    topic_configs,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("brokers", "expected"), [(1, (1, 1)), (2, (2, 1)), (3, (3, 2)), (5, (3, 2))]
)
def test_replication_for_brokers(brokers: int, expected: tuple[int, int]) -> None:
    assert replication_for(brokers) == expected


def test_no_brokers_is_refused() -> None:
    with pytest.raises(TopicError, match="no brokers"):
        replication_for(0)


def test_topic_configs_never_allow_unclean_election() -> None:
    assert topic_configs(1000, 2) == {
        "retention.ms": "1000",
        "min.insync.replicas": "2",
        "unclean.leader.election.enable": "false",
    }


def test_rpk_command_carries_every_topic_config() -> None:
    cmd = rpk_create_command("rpk", "t", 6, 3, 1000, "a:1,b:2", 2)
    assert cmd[:7] == ["rpk", "topic", "create", "t", "--partitions", "6", "--replicas"]
    configs = [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "--topic-config"]
    assert configs == [
        "retention.ms=1000",
        "min.insync.replicas=2",
        "unclean.leader.election.enable=false",
    ]
    assert cmd[-2:] == ["-X", "brokers=a:1,b:2"]


def test_result_says_the_replication_in_force() -> None:
    result = TopicResult("t", 3, True, "admin-api", 3, 2, 3)
    assert result.describe() == "replication 3 (min.insync.replicas 2) on 3 brokers"
    assert result.to_dict()["replication"] == 3
    assert result.to_dict()["min_insync_replicas"] == 2
