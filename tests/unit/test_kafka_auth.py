"""Kafka's authentication and ACLs as configured (no broker): the authorizer and listeners a
node is rendered with, the format command that keeps passwords off the command line, the
tools files, the roles' ACL table (the topic rule of ``run_params`` a second time), the role
connections ``make up`` imports, and ``LOANSTREAM_KAFKA_CLIENT_CONFIG``."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from devstack import airflow, kafka_auth
from devstack.kafka import NodePorts, render_properties
from devstack.kafka_auth import NodeCredentials
from loanstream.config import Settings
from loanstream.kafka.acls import Grant, acl_table
from tests.helpers import java_properties_dict

pytestmark = pytest.mark.unit

CREDS = NodeCredentials("brokerSecret123", "adminSecret456")
TABLE = acl_table("scored-loans", "loanstream-scorer", "loanstream-watcher")




def test_every_node_runs_the_authorizer_and_only_authenticated_listeners(tmp_path: Path) -> None:
    block = kafka_auth.auth_properties(CREDS)
    p = java_properties_dict(render_properties(NodePorts(1, 2), tmp_path, auth_block=block))
    assert p["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert p["allow.everyone.if.no.acl.found"] == "false"
    assert p["super.users"] == "User:broker;User:admin"
    protocols = dict(pair.split(":") for pair in p["listener.security.protocol.map"].split(","))
    names = [listener.split("://")[0] for listener in p["listeners"].split(",")]
    assert all(protocols[name].startswith("SASL_") for name in names), protocols
    assert p["sasl.mechanism.controller.protocol"] == "PLAIN"
    assert p["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    assert "adminSecret456" not in block  # the admin's credential is in the metadata only


def test_the_sasl_ssl_listener_keeps_every_listener_authenticated(tmp_path: Path) -> None:
    from devstack.kafka_tls import TEMPLATE

    sasl = TEMPLATE.read_text().replace("@KAFKA_PORT@", "1").replace("@CONTROLLER_PORT@", "2")
    sasl = sasl.replace("@SASL_PORT@", "3")
    p = java_properties_dict(render_properties(NodePorts(1, 2, 3), tmp_path, auth_block=kafka_auth.auth_properties(CREDS),
                                sasl_block=sasl))  # fmt: skip
    assert "PLAINTEXT://" not in p["listeners"].replace("SASL_PLAINTEXT", "")
    assert set(p["listener.security.protocol.map"].split(",")) == {
        "CONTROLLER:SASL_PLAINTEXT", "LOOPBACK:SASL_PLAINTEXT", "SASL_SSL:SASL_SSL"
    }  # fmt: skip


def test_the_format_command_holds_no_password_and_its_argument_file_is_private(tmp_path: Path) -> None:
    props_file = tmp_path / "server.properties"
    with kafka_auth.format_command(["java", "-cp", "x"], "id", props_file, CREDS, tmp_path) as argv:
        assert not any("Secret" in arg for arg in argv), argv
        argfile = Path(argv[-1].removeprefix("@"))
        assert stat.S_IMODE(argfile.stat().st_mode) == 0o600
        text = argfile.read_text()
        assert "kafka.tools.StorageTool" in text and text.count("--add-scram") == 2
        assert "name=admin,password=adminSecret456" in text
    assert not argfile.exists()


def test_tools_files_are_private_and_twins(tmp_path: Path) -> None:
    config = {"bootstrap.servers": "127.0.0.1:1", **CREDS.admin_security()}
    java, twin = kafka_auth.write_tools_files(tmp_path, config)
    for path in (java, twin):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(twin.read_text()) == config
    p = java_properties_dict(java.read_text())
    assert p["security.protocol"] == "SASL_PLAINTEXT" and p["sasl.mechanism"] == "SCRAM-SHA-512"
    assert f'username="admin" password="{CREDS.admin_password}"' in p["sasl.jaas.config"]


def allowed(role: str, operation: str, topic: str) -> bool:
    """Kafka's rule over ``role``'s topic ACLs: any matching DENY wins, else any ALLOW."""

    def matches(g: Grant) -> bool:
        if g.resource != "TOPIC" or g.operation != operation:
            return False
        if g.pattern == "PREFIXED":
            return topic.startswith(g.name)
        return g.name in ("*", topic)

    found = [g for g in TABLE[role] if matches(g)]
    return bool(found) and all(g.permission == "ALLOW" for g in found)


@pytest.mark.parametrize("topic", ["loan_applications", "2024", "loans.eu-1"])
def test_the_producer_writes_run_topics_and_reads_nothing(topic: str) -> None:
    assert allowed("producer", "WRITE", topic)
    assert not allowed("producer", "READ", topic)


@pytest.mark.parametrize("topic", ["scored-loans", "_schemas", "__consumer_offsets", "-x"])
def test_the_producer_is_denied_the_topics_run_params_refuses(topic: str) -> None:
    assert not allowed("producer", "WRITE", topic)


def test_the_sink_and_watcher_read_and_only_the_sink_writes_the_scored_topic() -> None:
    assert allowed("sink", "READ", "loan_applications") and allowed("watcher", "READ", "loan_applications")
    assert allowed("sink", "WRITE", "scored-loans")
    assert not allowed("sink", "WRITE", "loan_applications")
    assert not any(g.operation in ("WRITE", "CREATE", "ALTER") for g in TABLE["watcher"])
    assert not allowed("sink", "READ", "__consumer_offsets")
    assert not any(g.resource == "CLUSTER" and g.operation != "IDEMPOTENT_WRITE" for r in TABLE for g in TABLE[r])
    assert TABLE["admin"] == ()  # a super user


ENV = {
    "LOANSTREAM_BOOTSTRAP_SERVERS": "127.0.0.1:19092",
    "LOANSTREAM_KAFKA_SASL_PORT": "19094",
    "LOANSTREAM_LOCAL": "/x/.local",
    "LOANSTREAM_PG_HOST": "127.0.0.1",
    "LOANSTREAM_PG_PORT": "15433",
    "LOANSTREAM_PG_USER": "loanstream",
    "LOANSTREAM_PG_PASSWORD": "pg",
    "LOANSTREAM_PG_DB": "loanstream",
    **{f"LOANSTREAM_KAFKA_{r}_PASSWORD": f"{r.lower()}-pw" for r in ("ADMIN", "PRODUCER", "SINK", "WATCHER")},
}


@pytest.mark.parametrize("sasl_ssl", ["0", "1"])
def test_each_role_has_its_connection_with_its_own_login(sasl_ssl: str) -> None:
    conns = airflow.connections({**ENV, "LOANSTREAM_KAFKA_SASL_SSL": sasl_ssl})
    kafka = {cid: json.loads(c["extra"]) for cid, c in conns.items() if c["conn_type"] == "kafka"}
    assert set(kafka) == {f"loanstream_kafka_{r}" for r in ("admin", "producer", "sink", "watcher")}
    for conn_id, extra in kafka.items():
        role = conn_id.rsplit("_", 1)[1]
        assert extra["sasl.username"] == role and extra["sasl.password"] == f"{role}-pw"
        assert extra["security.protocol"] == ("SASL_SSL" if sasl_ssl == "1" else "SASL_PLAINTEXT")
    assert kafka["loanstream_kafka_watcher"]["group.id"] == Settings().watch_group


def test_settings_start_from_the_client_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    twin = tmp_path / "admin.json"
    twin.write_text(json.dumps({"bootstrap.servers": "127.0.0.1:7", **CREDS.admin_security()}))
    monkeypatch.setenv("LOANSTREAM_KAFKA_CLIENT_CONFIG", str(twin))
    monkeypatch.delenv("LOANSTREAM_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("LOANSTREAM_KAFKA_SASL_USERNAME", raising=False)
    config = Settings.from_env().kafka_config()
    assert config["bootstrap.servers"] == "127.0.0.1:7" and config["sasl.username"] == "admin"
    monkeypatch.setenv("LOANSTREAM_BOOTSTRAP_SERVERS", "127.0.0.1:8")
    monkeypatch.setenv("LOANSTREAM_KAFKA_SASL_USERNAME", "other")
    config = Settings.from_env().kafka_config()
    assert config["bootstrap.servers"] == "127.0.0.1:8" and config["sasl.username"] == "other"
    assert "adminSecret456" not in repr(Settings.from_env())
    monkeypatch.setenv("LOANSTREAM_KAFKA_CLIENT_CONFIG", str(tmp_path / "not-yet.json"))
    monkeypatch.delenv("LOANSTREAM_KAFKA_SASL_USERNAME")
    assert "sasl.username" not in Settings.from_env().kafka_config()  # before the first make up


def test_rpk_gets_the_login_in_its_environment_not_its_command_line() -> None:
    from loanstream.kafka.topics import rpk_create_command, rpk_env

    config = {"bootstrap.servers": "b:1", **CREDS.admin_security()}
    argv = rpk_create_command("rpk", "t", 3, 1, 1000, config["bootstrap.servers"])
    assert not any(CREDS.admin_password in arg for arg in argv)
    env = rpk_env(config)
    assert (env["RPK_USER"], env["RPK_PASS"], env["RPK_SASL_MECHANISM"]) == ("admin", CREDS.admin_password,
                                                                               "SCRAM-SHA-512")  # fmt: skip


def test_compose_redpanda_wants_a_login_on_every_listener() -> None:
    import yaml

    root = Path(__file__).resolve().parents[2]
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())
    bootstrap = yaml.safe_load((root / "infra/redpanda/bootstrap.yaml").read_text())
    assert bootstrap["enable_sasl"] and bootstrap["kafka_enable_authorization"]
    assert bootstrap["superusers"] == ["admin"]
    for name in ("redpanda", "redpanda-2", "redpanda-3"):
        service = compose["services"][name]
        assert "./infra/redpanda/bootstrap.yaml:/etc/redpanda/.bootstrap.yaml:ro" in service["volumes"]
        assert not any("PASSWORD" in part for part in service["command"])
    assert compose["services"]["redpanda"]["environment"]["RP_BOOTSTRAP_USER"].startswith("admin:${")
    console = compose["services"]["redpanda-console"]["environment"]
    assert console["KAFKA_SASL_USERNAME"] == "watcher"  # read-only
    init = (root / "infra/airflow/compose-init.sh").read_text()
    assert "provision(" in init and "loanstream_kafka_{role}" in init
