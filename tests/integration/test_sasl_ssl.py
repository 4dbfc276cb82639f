"""A secured broker for real: SASL_SSL (SCRAM-SHA-512 over TLS) end to end.

A private broker (``tests/chaos/services.PrivateKafka(sasl_ssl=True)``, free ports, the same
``infra/kafka/sasl_ssl.properties.in`` and ``devstack/kafka_tls.py`` certificates as
``make up`` with ``LOANSTREAM_KAFKA_SASL_SSL=1``) gets the roles' SCRAM users and ACLs with
random passwords (``provision_roles``, as ``make up``). The client settings come from Airflow
connections (``AIRFLOW_CONN_...``, read by ``loanstream.airflow.hooks.kafka_config`` as the
operators do), one per role. Through the SASL_SSL listener only: topic creation (admin), the
producer (producer), the sensor's lag check and the sink (sink), into a fresh Postgres schema of
the shared stack. A wrong password and an untrusted CA fail at once
with a message that names the listener and never the password.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loanstream.config import Settings
from tests.chaos.services import PrivateKafka, provision_roles, running_private_kafka
from tests.helpers import query, temp_schema, unique_name, write_loans_csv

pytestmark = pytest.mark.integration

USER = "sink"
EVENTS = 300


def _random_password() -> str:
    from devstack.envfile import random_password

    return random_password()


@pytest.fixture(scope="module")
def sasl_kafka() -> Iterator[PrivateKafka]:
    with running_private_kafka("sasl", sasl_ssl=True) as kafka:
        yield kafka


@pytest.fixture(scope="module")
def roles(sasl_kafka: PrivateKafka) -> dict[str, dict[str, str]]:
    """Each role's login (SCRAM users and ACLs made by the admin, as ``make up`` does)."""
    return provision_roles(sasl_kafka)


@pytest.fixture(scope="module")
def password(roles: dict[str, dict[str, str]]) -> str:
    return roles[USER]["sasl.password"]


def gate(config: dict, dsn: str, topic: str, group: str, timeout: float = 60.0):
    """The sensor's check (``loanstream.runs.gate.check_gate``: lag from the topic's offsets over
    the SASL_SSL listener and Postgres), retried as the sensor does while the new broker is
    still settling."""
    from loanstream.runs.gate import check_gate
    from loanstream.runs.lag import LagError

    deadline = time.monotonic() + timeout
    while True:
        try:
            return check_gate(config, dsn, topic, group, run_id=topic)
        except LagError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def connection_config(
    monkeypatch: pytest.MonkeyPatch, extra: dict[str, str], check: bool = True
) -> dict:
    """What an operator gets from an Airflow connection holding ``extra``."""
    from loanstream.airflow.hooks import kafka_config

    conn_id = unique_name("kafka_sasl")
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "kafka", "extra": extra})
    )
    return kafka_config(conn_id, check=check)


def test_topic_producer_sensor_and_sink_through_sasl_ssl(
    sasl_kafka: PrivateKafka,
    roles: dict[str, dict[str, str]],
    live_settings: Settings,
    shared_csv: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from loanstream.kafka.topics import ensure_topic
    from loanstream.produce.producer import EventProducer
    from loanstream.sink import ScoringSink

    caplog.set_level(logging.DEBUG)
    admin, producer, config = (
        connection_config(monkeypatch, sasl_kafka.sasl_ssl_config(role, roles[role]["sasl.password"]))
        for role in ("admin", "producer", "sink")
    )
    assert config["security.protocol"] == "SASL_SSL"
    assert config["bootstrap.servers"] == f"127.0.0.1:{sasl_kafka.sasl_port}"
    topic = unique_name("sasl")
    group = f"{Settings().consumer_group}-{topic}"  # within the sink's group prefix
    csv = tmp_path / "loans.csv"
    ids = write_loans_csv(csv, shared_csv, EVENTS, id_prefix="9")

    with temp_schema(live_settings) as dsn:
        created = ensure_topic(admin, topic, partitions=3, use_rpk=False)
        assert created.partitions == 3
        produced = EventProducer(producer, topic).produce_csv(csv, run_id=topic)
        assert produced.delivered == EVENTS and produced.failed == 0
        opened = gate(config, dsn, topic, group)
        assert opened.status == "open" and sum(opened.lag.values()) == EVENTS, opened
        sink = ScoringSink(config, dsn, topic, group=group)
        stats = sink.run(None, idle_timeout=5.0).to_dict()
        ((scored,),) = query(dsn, "SELECT count(*) FROM risk_scored WHERE run_id = %s", (topic,))
        assert scored == len(ids), stats
        assert sum(gate(config, dsn, topic, group).lag.values()) == 0
    assert not [role for role, login in roles.items() if login["sasl.password"] in caplog.text]


def test_a_wrong_password_fails_fast_naming_the_listener_not_the_secret(
    sasl_kafka: PrivateKafka, password: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    wrong = _random_password()
    extra = sasl_kafka.sasl_ssl_config(USER, wrong)
    with pytest.raises(AirflowFailException) as info:
        connection_config(monkeypatch, extra)
    message = str(info.value)
    assert f"SASL_SSL listener 127.0.0.1:{sasl_kafka.sasl_port}" in message
    assert "authentication failed" in message and f"'{USER}'" in message
    assert wrong not in message and password not in message


def test_an_untrusted_certificate_fails_fast_naming_the_listener(
    sasl_kafka: PrivateKafka, password: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from devstack.kafka_tls import make_tls

    other_ca = make_tls(tmp_path / "other", common_name="some other CA")
    extra = sasl_kafka.sasl_ssl_config(USER, password, ca=other_ca)
    with pytest.raises(AirflowFailException) as info:
        connection_config(monkeypatch, extra)
    message = str(info.value)
    assert f"SASL_SSL listener 127.0.0.1:{sasl_kafka.sasl_port}" in message
    assert "TLS handshake failed" in message and str(other_ca) in message
    assert password not in message


def test_the_core_check_and_the_plaintext_path(sasl_kafka: PrivateKafka, password: str) -> None:
    """``check_access`` passes with the right login, and never runs for PLAINTEXT."""
    from loanstream.kafka.access import KafkaAccessError, check_access

    check_access(sasl_kafka.sasl_ssl_config(USER, password))
    check_access({"bootstrap.servers": "127.0.0.1:1"})  # PLAINTEXT: nothing to check
    with pytest.raises(KafkaAccessError):
        check_access(sasl_kafka.sasl_ssl_config("nobody", password))
