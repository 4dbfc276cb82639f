"""devstack's pure parts: server.properties rendering, quorum voters, pid files with start
times, /proc stat parsing, the settings and the credentials stamp."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devstack import credentials
from devstack.celery import redis_conf
from devstack.config import ConfigError, StackConfig, parse_ports, stack_id
from devstack.kafka import NodePorts, quorum_voters, random_cluster_id, render_properties
from devstack.process import Stat, parse_stat, pid_matches, read_pidfile, stat, write_pidfile

pytestmark = pytest.mark.unit


def props(text: str) -> dict[str, str]:
    """A properties file as a dict (a later key wins, as in Java)."""
    out = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def test_one_node_properties_fill_in_ports_and_data_dir(tmp_path: Path) -> None:
    text = render_properties(NodePorts(19092, 19093), tmp_path / "data")
    assert "@" not in text.replace("1@127.0.0.1", "")
    p = props(text)
    assert p["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert p["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert p["log.dirs"] == str(tmp_path / "data")
    assert p["node.id"] == "1" and p["default.replication.factor"] == "1"


def test_cluster_node_properties_override_id_quorum_and_replication(tmp_path: Path) -> None:
    voters = quorum_voters([(1, 9093), (2, 9193), (3, 9293)])
    assert voters == "1@127.0.0.1:9093,2@127.0.0.1:9193,3@127.0.0.1:9293"
    p = props(render_properties(NodePorts(9192, 9193), tmp_path, node_id=2, voters=voters))
    assert p["node.id"] == "2"
    assert p["controller.quorum.voters"] == voters
    assert p["default.replication.factor"] == "3" and p["min.insync.replicas"] == "2"
    assert p["listeners"] == "PLAINTEXT://127.0.0.1:9192,CONTROLLER://127.0.0.1:9193"


def test_sasl_block_is_appended_last(tmp_path: Path) -> None:
    block = "listeners=PLAINTEXT://127.0.0.1:1,CONTROLLER://127.0.0.1:2,SASL_SSL://127.0.0.1:3\n"
    p = props(render_properties(NodePorts(1, 2, 3), tmp_path, sasl_block=block))
    assert p["listeners"].endswith("SASL_SSL://127.0.0.1:3")


def test_cluster_ids_look_like_kafka_uuids() -> None:
    ids = {random_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 22 and not i.startswith("-") and "=" not in i for i in ids)


def test_parse_stat_handles_spaces_and_parentheses_in_the_name() -> None:
    rest = " ".join(["S", "1", "4242", "4243", *["0"] * 15, "987654", "0"])
    info = parse_stat(f"4242 (airflow (worker) x) {rest}")
    assert info == Stat(state="S", pgrp=4242, session=4243, start=987654)


def test_pid_file_holds_pid_and_start_time(tmp_path: Path) -> None:
    path = tmp_path / "run" / "svc.pid"
    write_pidfile(path, os.getpid())
    pid, start = read_pidfile(path)  # type: ignore[misc]
    assert pid == os.getpid() and start == stat(os.getpid()).start  # type: ignore[union-attr]
    assert pid_matches((pid, start)) == pid


def test_a_reused_pid_is_not_ours() -> None:
    me = stat(os.getpid())
    assert me is not None
    assert pid_matches((os.getpid(), me.start + 1)) is None  # same pid, another start time
    assert pid_matches(None) is None
    zombie = Stat(state="Z", pgrp=1, session=1, start=5)
    assert pid_matches((7, 5), lambda pid: None if zombie.state == "Z" else zombie) is None
    assert pid_matches((7, 5), lambda pid: Stat("S", 1, 1, 5)) == 7


def test_malformed_pid_files_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "x.pid"
    assert read_pidfile(path) is None
    path.write_text("123\n")
    assert read_pidfile(path) is None
    path.write_text("abc\n1\n")
    assert read_pidfile(path) is None


BASE_ENV = {
    "LOANSTREAM_KAFKA_PORT": "19092",
    "LOANSTREAM_KAFKA_CONTROLLER_PORT": "19093",
    "LOANSTREAM_KAFKA_SASL_PORT": "19094",
    "LOANSTREAM_KAFKA_NODE2_PORTS": "19192,19193,19194",
    "LOANSTREAM_KAFKA_NODE3_PORTS": "19292,19293,19294",
}


def test_config_modes_and_services() -> None:
    one = StackConfig.from_env(BASE_ENV, Path("/x"))
    assert one.kafka_nodes == ("kafka",) and one.kafka_ports == ((19092, 19093, 19094),)
    assert one.all_services == ("postgres", "kafka", "airflow-scheduler", "airflow-dag-processor",
                                "airflow-triggerer", "airflow-api-server")  # fmt: skip
    three = StackConfig.from_env(
        {**BASE_ENV, "LOANSTREAM_KAFKA_BROKERS": "3", "LOANSTREAM_EXECUTOR": "celery"}, Path("/x")
    )
    assert three.kafka_nodes == ("kafka", "kafka-2", "kafka-3")
    assert three.kafka_ports[2] == (19292, 19293, 19294)
    assert three.celery_services == ("redis", "celery-worker-1", "celery-worker-2")
    assert three.kafka_heap == "-Xms256m -Xmx512m"
    assert stack_id(Path("/x")) == one.stack_id and len(one.stack_id) == 12


@pytest.mark.parametrize(
    "extra",
    [{"LOANSTREAM_KAFKA_BROKERS": "2"}, {"LOANSTREAM_EXECUTOR": "k8s"},
     {"LOANSTREAM_CELERY_WORKERS": "0"}, {"LOANSTREAM_CELERY_WORKERS": "100"}],
)  # fmt: skip
def test_config_refuses_unknown_modes(extra: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        StackConfig.from_env({**BASE_ENV, **extra}, Path("/x"))
    with pytest.raises(ConfigError):
        parse_ports("1,2")


def test_credentials_stamp_follows_passwords_and_kafka_connection(tmp_path: Path) -> None:
    stamps = credentials.Stamps(tmp_path)
    env = {"LOANSTREAM_PG_PASSWORD": "a", "AIRFLOW_PG_PASSWORD": "b"}
    assert not stamps.credentials_current(env)
    stamps.stamp_credentials(env)
    assert stamps.credentials_current(env)
    assert stamps.credentials.stat().st_mode & 0o777 == 0o600
    assert not stamps.credentials_current({**env, "AIRFLOW_PG_PASSWORD": "c"})
    assert not stamps.credentials_current({**env, "LOANSTREAM_KAFKA_BROKERS": "3"})
    assert not stamps.credentials_current({**env, "LOANSTREAM_KAFKA_SASL_SSL": "1"})
    assert stamps.executor_current("local") and not stamps.executor_current("celery")
    stamps.stamp_executor("celery")
    assert stamps.executor_current("celery")


def test_redis_conf_is_private_and_not_persistent(tmp_path: Path) -> None:
    conf = redis_conf(16380, "pw", tmp_path)
    assert "bind 127.0.0.1\nport 16380\n" in conf and 'save ""' in conf
    assert "requirepass pw" in conf and "appendonly no" in conf
