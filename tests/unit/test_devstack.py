"""devstack's pure parts: server.properties rendering, quorum voters, pid files with start
times, /proc stat parsing, the settings, the credentials stamp, and the schema registry's
command line, environment and Java lookup."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devstack import credentials
from devstack.celery import redis_conf
from devstack.config import ConfigError, StackConfig, parse_ports, stack_id
from devstack.envfile import random_password
from devstack.kafka import NodePorts, quorum_voters, random_cluster_id, render_properties
from devstack.process import (
    ServiceError,
    Stat,
    parse_stat,
    pid_matches,
    read_pidfile,
    stat,
    write_pidfile,
)
from devstack.registry import (
    SchemaRegistry,
    find_java,
    jdbc_url,
    parse_java_version,
    registry_argv,
    registry_env,
)
from tests.helpers import java_properties_dict

pytestmark = pytest.mark.unit




def test_one_node_properties_fill_in_ports_and_data_dir(tmp_path: Path) -> None:
    text = render_properties(NodePorts(19092, 19093), tmp_path / "data")
    assert "@" not in text.replace("1@127.0.0.1", "")
    p = java_properties_dict(text)
    assert p["listeners"] == "LOOPBACK://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert p["listener.security.protocol.map"] == "CONTROLLER:SASL_PLAINTEXT,LOOPBACK:SASL_PLAINTEXT"
    assert p["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert p["log.dirs"] == str(tmp_path / "data")
    assert p["node.id"] == "1" and p["default.replication.factor"] == "1"


def test_cluster_node_properties_override_id_quorum_and_replication(tmp_path: Path) -> None:
    voters = quorum_voters([(1, 9093), (2, 9193), (3, 9293)])
    assert voters == "1@127.0.0.1:9093,2@127.0.0.1:9193,3@127.0.0.1:9293"
    p = java_properties_dict(render_properties(NodePorts(9192, 9193), tmp_path, node_id=2, voters=voters))
    assert p["node.id"] == "2"
    assert p["controller.quorum.voters"] == voters
    assert p["default.replication.factor"] == "3" and p["min.insync.replicas"] == "2"
    assert p["listeners"] == "LOOPBACK://127.0.0.1:9192,CONTROLLER://127.0.0.1:9193"


def test_sasl_block_is_appended_last(tmp_path: Path) -> None:
    block = "listeners=LOOPBACK://127.0.0.1:1,CONTROLLER://127.0.0.1:2,SASL_SSL://127.0.0.1:3\n"
    p = java_properties_dict(render_properties(NodePorts(1, 2, 3), tmp_path, sasl_block=block))
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
    assert one.all_services == ("postgres", "schema-registry", "kafka", "airflow-scheduler",
                                "airflow-dag-processor", "airflow-triggerer", "airflow-api-server",
                                "prometheus")  # fmt: skip
    assert one.prometheus_url == "http://127.0.0.1:9090"  # LOANSTREAM_PROMETHEUS_PORT's default
    assert (one.registry_port, one.registry_management_port) == (8081, 9000)  # the defaults
    assert one.registry_url == "http://127.0.0.1:8081/apis/ccompat/v7"
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


SECRET = random_password()  # what `make up` would generate


def test_registry_command_line_binds_loopback_and_holds_no_secret(tmp_path: Path) -> None:
    argv = registry_argv(Path("/jdk/bin/java"), tmp_path / "quarkus-run.jar", 18081, 19000,
                         heap=("-Xmx256m",), log_dir=tmp_path)  # fmt: skip
    assert argv[0] == "/jdk/bin/java" and argv[-2:] == ["-jar", str(tmp_path / "quarkus-run.jar")]
    assert "-Dquarkus.http.host=127.0.0.1" in argv and "-Dquarkus.http.port=18081" in argv
    assert "-Dquarkus.management.host=127.0.0.1" in argv and "-Dquarkus.management.port=19000" in argv
    assert "-Xmx256m" in argv
    assert not any("password" in a.lower() or "datasource" in a.lower() for a in argv), argv


def test_registry_env_carries_storage_and_password_but_not_the_stack_secrets() -> None:
    base = {"PATH": "/usr/bin", "HOME": "/root", "LOANSTREAM_PG_PASSWORD": "other", "AIRFLOW_PG_PASSWORD": "x"}
    env = registry_env(base, jdbc_url("127.0.0.1", 15433, "registry"), "registry", SECRET)
    assert env["APICURIO_STORAGE_KIND"] == "sql" and env["APICURIO_STORAGE_SQL_KIND"] == "postgresql"
    assert env["APICURIO_DATASOURCE_URL"] == "jdbc:postgresql://127.0.0.1:15433/registry"
    assert env["APICURIO_DATASOURCE_USERNAME"] == "registry"
    assert env["APICURIO_DATASOURCE_PASSWORD"] == SECRET
    assert env["PATH"] == "/usr/bin" and "LOANSTREAM_PG_PASSWORD" not in env and "AIRFLOW_PG_PASSWORD" not in env
    assert int(env["APICURIO_DATASOURCE_JDBC_MAX_SIZE"]) <= 10  # the stack's Postgres is shared


def test_registry_service_renders_argv_without_secret_and_restarts_on_a_new_password(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "quarkus-run.jar").write_bytes(b"")

    def service(password: str) -> SchemaRegistry:
        return SchemaRegistry(18081, 19000, jdbc_url="jdbc:postgresql://127.0.0.1:15433/registry",
                              user="registry", password=password, run_dir=tmp_path / "run",
                              log_dir=tmp_path / "logs", java=Path("/jdk/bin/java"), home=tmp_path,
                              app_dir=app, base_env={"PATH": "/usr/bin"})  # fmt: skip

    reg = service(SECRET)
    assert reg.name == "schema-registry" and reg.log_path == tmp_path / "logs" / "schema-registry.log"
    assert reg.ccompat_url == "http://127.0.0.1:18081/apis/ccompat/v7"
    assert reg.management_url == "http://127.0.0.1:19000" and reg.cwd == tmp_path
    assert SECRET not in " ".join(reg.argv())
    assert not reg.stamp_current()
    reg.write_stamp()
    assert reg.stamp_current() and reg.stamp.stat().st_mode & 0o777 == 0o600
    assert SECRET not in reg.stamp.read_text()
    assert not service("another").stamp_current()


@pytest.mark.parametrize(
    ("text", "major"),
    [('openjdk version "17.0.15" 2025-04-15', 17), ('openjdk version "25.0.3" 2026-04-21', 25),
     ('java version "1.8.0_402"', 8), ('openjdk version "21" 2023-09-19', 21), ("garbage", None)],
)  # fmt: skip
def test_java_versions_are_parsed(text: str, major: int | None) -> None:
    assert parse_java_version(text) == major


def fake_jdk(root: Path, name: str, version: str) -> Path:
    home = root / name
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "java").write_text("#!/bin/sh\nexit 1\n")
    (home / "release").write_text(f'IMPLEMENTOR="x"\nJAVA_VERSION="{version}"\n')
    return home


def test_find_java_takes_the_first_21_or_newer(tmp_path: Path) -> None:
    jvm = tmp_path / "jvm"
    old = fake_jdk(jvm, "java-17-openjdk-amd64", "17.0.15")
    new = fake_jdk(jvm, "temurin-25-jdk-amd64", "25.0.3")
    assert find_java({"PATH": ""}, jvm) == new / "bin" / "java"
    assert find_java({"PATH": "", "JAVA_HOME": str(old)}, jvm) == new / "bin" / "java"  # 17 is skipped
    setting = {"PATH": "", "LOANSTREAM_SCHEMA_REGISTRY_JAVA": str(new)}
    assert find_java(setting, jvm) == new / "bin" / "java"
    with pytest.raises(ServiceError, match="Java 17, want 21"):
        find_java({"PATH": "", "LOANSTREAM_SCHEMA_REGISTRY_JAVA": str(old / "bin" / "java")}, jvm)
    with pytest.raises(ServiceError, match="apt-get install openjdk-21-jre-headless"):
        find_java({"PATH": "", "JAVA_HOME": str(old)}, tmp_path / "none")


def test_settings_read_the_schema_registry_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from loanstream.config import Settings

    monkeypatch.delenv("LOANSTREAM_SCHEMA_REGISTRY_URL", raising=False)
    assert Settings.from_env().schema_registry_url == "http://127.0.0.1:8081/apis/ccompat/v7"
    monkeypatch.setenv("LOANSTREAM_SCHEMA_REGISTRY_URL", "http://redpanda:8081/")
    assert Settings.from_env().schema_registry_url == "http://redpanda:8081"


def test_a_cluster_left_by_a_removed_checkout_is_removed_unless_its_server_runs(
    tmp_path: Path,
) -> None:
    """A fresh clone at the path of a removed one must not start on the old cluster (made
    with secrets that went with the old `.local`); a server still running from it is named."""
    from devstack.postgres import remove_stale_base
    from devstack.process import ServiceError

    stale = tmp_path / "loanstream-stale"
    (stale / "data").mkdir(parents=True)
    (stale / "data" / "postmaster.pid").write_text("999999999\n/x\n")  # no such process
    remove_stale_base(stale)
    assert not stale.exists()
    (stale / "data").mkdir(parents=True)
    (stale / "data" / "postmaster.pid").write_text(f"{os.getpid()}\n/x\n")  # a live one
    with pytest.raises(ServiceError, match=f"pid {os.getpid()}"):
        remove_stale_base(stale)
    assert (stale / "data").exists()
