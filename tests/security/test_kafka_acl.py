"""Governed access on the real broker of ``make up``: every listener wants a login, and each
SCRAM role (``loanstream.kafka.acls``) can do exactly its job and is refused outside it.

The roles log in with the passwords ``make up`` generated into ``.env``
(``LOANSTREAM_KAFKA_<ROLE>_PASSWORD``) on the loopback SASL_PLAINTEXT listener; topics are made
and deleted by the admin (``resources``). Kafka's own CLI tools work with
``LOANSTREAM_KAFKA_TOOLS_PROPERTIES``, and no process shows a password on its command line.
"""

from __future__ import annotations

import os
import stat
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    NewTopic,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from loanstream.config import Settings
from loanstream.kafka.acls import ROLES, client_security
from tests.helpers import kafka_tool, tools_properties
from tests.resources import Resources, unique_name

pytestmark = [pytest.mark.security, pytest.mark.integration]

DENIED = {"TOPIC_AUTHORIZATION_FAILED", "CLUSTER_AUTHORIZATION_FAILED", "GROUP_AUTHORIZATION_FAILED"}


def password(role: str) -> str:
    value = os.environ.get(f"LOANSTREAM_KAFKA_{role.upper()}_PASSWORD", "")
    if not value:
        pytest.fail(f"LOANSTREAM_KAFKA_{role.upper()}_PASSWORD unset: run `make up` first", pytrace=False)
    return value


def login(settings: Settings, role: str) -> dict[str, Any]:
    """``role``'s client settings on the loopback listener."""
    return {"bootstrap.servers": settings.bootstrap_servers, **client_security(role, password(role)),
            "log_level": 0}  # fmt: skip


def produce(config: dict[str, Any], topic: str, n: int = 3, source: str = "") -> str | None:
    """Send ``n`` events idempotently; None when all were delivered, else the error's name.
    ``source``: the ``src_topic`` header (readers of the shared scored topic select by it)."""
    errors: list[str] = []
    producer = Producer({**config, "enable.idempotence": True, "message.timeout.ms": 10000})
    try:
        for i in range(n):
            producer.produce(topic, key=str(i), value=b"{}", headers=[("src_topic", source.encode())],
                             on_delivery=lambda err, _msg: err and errors.append(err.name()))  # fmt: skip
        producer.flush(20)
    except KafkaException as exc:  # fatal: no producer id (IDEMPOTENT_WRITE refused)
        return exc.args[0].name()
    return errors[0] if errors else None


def read(config: dict[str, Any], topic: str, group: str | None = None, want: int = 1) -> tuple[int, str | None]:
    """(events read from partition 0's start, the first error's name) within 15 s; with a
    ``group``, each event is committed in it."""
    consumer = Consumer({**config, "group.id": group or "unused", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got, error, deadline = 0, None, time.monotonic() + 15
    try:
        while got < want and error is None and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                error = msg.error().name()
            else:
                got += 1
                if group:
                    try:
                        consumer.commit(message=msg, asynchronous=False)
                    except KafkaException as exc:
                        error = exc.args[0].name()
    finally:
        consumer.close()
    return got, error


def admin_error(config: dict[str, Any], call: Any) -> str | None:
    """The error name of the futures of ``call(admin client)`` (None: all succeeded)."""
    client = AdminClient(config)  # kept alive until the answers arrive
    futures = call(client)
    for future in futures.values():
        try:
            future.result(timeout=30)
        except KafkaException as exc:
            return exc.args[0].name()
    return None


def create_topic_error(config: dict[str, Any]) -> str | None:
    name = unique_name("acl_denied")
    return admin_error(config, lambda a: a.create_topics([NewTopic(name, 1, 1)], operation_timeout=10))


def alter_scram_error(config: dict[str, Any], user: str) -> str | None:
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
    upsert = UserScramCredentialUpsertion(user, info, uuid.uuid4().hex.encode())
    return admin_error(config, lambda a: a.alter_user_scram_credentials([upsert], request_timeout=15))


@pytest.fixture
def topic(resources: Resources) -> str:
    return resources.topic("acl", partitions=1)


def test_an_anonymous_client_gets_nothing(settings: Settings, topic: str) -> None:
    anonymous = {"bootstrap.servers": settings.bootstrap_servers, "log_level": 0, "socket.timeout.ms": 5000}
    with pytest.raises(KafkaException):
        AdminClient(anonymous).list_topics(timeout=5)
    assert produce({**anonymous, "message.timeout.ms": 5000}, topic) is not None
    assert read(anonymous, topic)[0] == 0


def test_the_producer_writes_run_topics_only_and_reads_nothing(settings: Settings, topic: str, resources: Resources) -> None:
    producer = login(settings, "producer")
    assert produce(producer, topic) is None
    assert produce(producer, settings.scored_topic, source=topic) == "TOPIC_AUTHORIZATION_FAILED"
    reserved = resources.adopt_topic("_" + unique_name("acl"))  # made by the admin
    assert admin_error(settings.kafka_config(), lambda a: a.create_topics([NewTopic(reserved, 1, 1)])) is None
    assert produce(producer, reserved) == "TOPIC_AUTHORIZATION_FAILED"
    got, error = read(producer, topic)
    assert got == 0 and error in DENIED  # the group or the topic, whichever it asks first
    assert create_topic_error(producer) in DENIED
    assert alter_scram_error(producer, "producer") in DENIED


def test_the_sink_reads_its_topics_and_writes_only_the_scored_topic(settings: Settings, topic: str) -> None:
    assert produce(login(settings, "producer"), topic) is None
    sink = login(settings, "sink")
    assert read(sink, topic, settings.consumer_group + "-acl", want=3) == (3, None)  # its group prefix
    assert read(sink, topic, settings.watch_group, want=1)[1] == "GROUP_AUTHORIZATION_FAILED"
    assert produce(sink, settings.scored_topic, n=1, source=topic) is None
    assert produce(sink, topic) == "TOPIC_AUTHORIZATION_FAILED"
    assert create_topic_error(sink) in DENIED
    assert alter_scram_error(sink, "sink") in DENIED


def test_the_watcher_only_reads(settings: Settings, topic: str) -> None:
    assert produce(login(settings, "producer"), topic) is None
    watcher = login(settings, "watcher")
    assert read(watcher, topic, settings.watch_group, want=3) == (3, None)
    assert read(watcher, topic, settings.consumer_group, want=1)[1] == "GROUP_AUTHORIZATION_FAILED"
    assert produce(watcher, topic) in DENIED  # no producer id, nor any topic to write
    assert produce(watcher, settings.scored_topic) in DENIED
    assert create_topic_error(watcher) in DENIED
    assert alter_scram_error(watcher, "watcher") in DENIED


def test_only_the_admin_changes_scram_users(settings: Settings) -> None:
    admin = settings.kafka_config()
    assert admin["sasl.username"] == "admin"  # LOANSTREAM_KAFKA_CLIENT_CONFIG, from make up
    user = unique_name("acl_user")
    for role in ROLES[1:]:
        assert alter_scram_error(login(settings, role), user) == "CLUSTER_AUTHORIZATION_FAILED"
    assert alter_scram_error(admin, user) is None
    deletion = UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_512)
    assert admin_error(admin, lambda a: a.alter_user_scram_credentials([deletion])) is None


def test_kafkas_own_cli_tools_work_with_the_tools_properties(settings: Settings, topic: str) -> None:
    props = tools_properties()
    twin = Path(os.environ["LOANSTREAM_KAFKA_CLIENT_CONFIG"])
    for path in (props, twin):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert produce(login(settings, "producer"), topic, n=5) is None
    listed = kafka_tool("org.apache.kafka.tools.TopicCommand", "--bootstrap-server", settings.bootstrap_servers,
                  "--command-config", str(props), "--list")  # fmt: skip
    assert listed.returncode == 0 and topic in listed.stdout.split(), listed.stderr[-2000:]
    consumed = kafka_tool("org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server", settings.bootstrap_servers,
                    "--consumer.config", str(props), "--topic", topic, "--from-beginning",
                    "--max-messages", "5", "--timeout-ms", "60000")  # fmt: skip
    assert consumed.stdout.count("{}") == 5, consumed.stderr[-2000:]


def test_no_password_is_on_any_command_line() -> None:
    secrets = [password(role) for role in ROLES]
    secrets += [os.environ[v] for v in ("LOANSTREAM_KAFKA_BROKER_PASSWORD",) if os.environ.get(v)]
    argv = subprocess.run(["ps", "-eww", "-o", "args="], capture_output=True, text=True, check=True).stdout
    java = [line for line in argv.splitlines() if "kafka.Kafka" in line]
    assert java, "no broker process found: run `make up` first"
    assert not [s for s in secrets if s in argv]
