"""The shared stack's Kafka (``make up``): its nodes, start, health and provisioning.

Every node is formatted with the broker's and the admin's SCRAM credentials
(``LOANSTREAM_KAFKA_BROKER_PASSWORD``, ``LOANSTREAM_KAFKA_ADMIN_PASSWORD``, generated into
``.env``); once healthy, logged in as the admin, ``make up`` creates or updates the roles' SCRAM
users (``LOANSTREAM_KAFKA_<ROLE>_PASSWORD``), makes their ACLs exactly
:func:`loanstream.kafka.acls.acl_table`'s, creates the scored topic (the sink may not create
topics), and writes the admin's client settings for tools (``.local/kafka/admin.properties``
and ``admin.json``, 0600).
"""

from __future__ import annotations

import shlex
import shutil
import time
from collections.abc import Callable, Mapping

from devstack import kafka
from devstack.config import StackConfig
from devstack.kafka_auth import NodeCredentials, write_tools_files
from devstack.process import ServiceError, log

ROLE_PASSWORDS = {
    "producer": "LOANSTREAM_KAFKA_PRODUCER_PASSWORD",
    "sink": "LOANSTREAM_KAFKA_SINK_PASSWORD",
    "watcher": "LOANSTREAM_KAFKA_WATCHER_PASSWORD",
}


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise ServiceError("kafka", f"{name} unset (make up generates it into .env)")
    return value


def node_credentials(env: Mapping[str, str]) -> NodeCredentials:
    return NodeCredentials(
        _required(env, "LOANSTREAM_KAFKA_BROKER_PASSWORD"), _required(env, "LOANSTREAM_KAFKA_ADMIN_PASSWORD")
    )


def role_passwords(env: Mapping[str, str]) -> dict[str, str]:
    """Each role's password (the admin's too: ``LOANSTREAM_KAFKA_ADMIN_PASSWORD``)."""
    return {"admin": _required(env, "LOANSTREAM_KAFKA_ADMIN_PASSWORD")} | {
        role: _required(env, var) for role, var in ROLE_PASSWORDS.items()
    }


class KafkaStack:
    """The Kafka nodes of ``cfg``; ``stop`` stops services by name (the stack's)."""

    def __init__(self, cfg: StackConfig, common: Mapping[str, object], stop: Callable[[list[str]], None]) -> None:
        self.cfg = cfg
        self.common = dict(common)
        self.stop = stop

    @property
    def credentials(self) -> NodeCredentials:
        return node_credentials(self.cfg.env)

    def admin_config(self) -> dict[str, str]:
        """The admin's login on the loopback listener(s) (``LOANSTREAM_BOOTSTRAP_SERVERS``)."""
        return {"bootstrap.servers": self.cfg.bootstrap, **self.credentials.admin_security()}

    def nodes(self, brokers: int | None = None) -> list[kafka.KafkaNode]:
        """The Kafka nodes of ``brokers`` (default: the configured mode)."""
        cfg = self.cfg
        tls = cfg.kafka_dir / "tls" if cfg.sasl_ssl else None
        heap = shlex.split(cfg.kafka_heap)
        ports = [kafka.NodePorts(*p) for p in cfg.kafka_ports]
        common = {**self.common, "heap": heap, "tls_dir": tls, "credentials": self.credentials}
        if (brokers or cfg.brokers) == 1:
            return [kafka.KafkaNode("kafka", cfg.kafka_dir, ports[0], **common)]  # type: ignore[arg-type]
        return kafka.KafkaCluster(cfg.kafka_dir / "cluster", ports, **common).nodes

    def healthy(self) -> bool:
        return kafka.brokers_registered(self.cfg.bootstrap, self.credentials.admin_security(), 3) >= self.cfg.brokers

    def start(self) -> None:
        cfg = self.cfg
        if not kafka.jars_present():
            raise ServiceError("kafka", f"no jars in {kafka.KAFKA_LIBS}: run `make setup` first")
        if shutil.which("java") is None:
            raise ServiceError("kafka", "java not found: run `make setup` first")
        if cfg.brokers == 1:  # back to one broker: the other nodes of an earlier cluster stop
            self.stop(["kafka-2", "kafka-3"])
        nodes = self.nodes()
        cluster = kafka.KafkaCluster(cfg.kafka_dir / "cluster", [], credentials=self.credentials) if cfg.brokers == 3 else None
        for node in nodes:
            fresh = node.props.with_name("server.properties.next")
            node.write_properties(fresh)
            if node.running():
                if node.props.is_file() and fresh.read_text() == node.props.read_text():
                    fresh.unlink()
                    log(f"{node.name}: already running (pid {node.pid()})")
                    continue
                log(f"{node.name}: its configuration changed (LOANSTREAM_KAFKA_SASL_SSL, "
                    "LOANSTREAM_KAFKA_BROKERS, ports or passwords): restarting it")  # fmt: skip
                self.stop([node.name])
            fresh.replace(node.props)
            if not node.formatted():
                cluster_id = cluster.cluster_id() if cluster else kafka.random_cluster_id()
                log(f"{node.name}: formatting storage in {node.data} (cluster {cluster_id}; "
                    "SCRAM users broker and admin)")  # fmt: skip
                node.format(cluster_id)
            node.check_format()
            sasl = f", SASL_SSL 127.0.0.1:{node.sasl_port}" if cfg.sasl_ssl else ""
            log(f"{node.name}: starting on 127.0.0.1:{node.port} SASL_PLAINTEXT "
                f"(controller 127.0.0.1:{node.controller_port}){sasl}")  # fmt: skip
            node.launch()

    def wait(self) -> None:
        cfg = self.cfg
        deadline = time.monotonic() + cfg.kafka_timeout
        nodes = self.nodes()
        while time.monotonic() < deadline:
            for node in nodes:
                if not node.running():
                    raise ServiceError(node.name, "the broker exited during start-up", node.log_path)
            if self.healthy():
                log(f"kafka: healthy ({cfg.bootstrap}, {cfg.brokers} broker(s), admin login)")
                self.provision(nodes[0])
                return
            time.sleep(1)
        raise ServiceError("kafka", f"{cfg.brokers} broker(s) not registered at {cfg.bootstrap} "
                           f"within {cfg.kafka_timeout:.0f}s (logged in as admin)", nodes[0].log_path)  # fmt: skip

    def provision(self, node: kafka.KafkaNode) -> None:
        """The roles' users and ACLs, the scored topic, the admin's tools files (every ``up``)."""
        from loanstream.config import Settings
        from loanstream.kafka.acls import acl_table, provision
        from loanstream.kafka.topics import ensure_topic

        settings = Settings.from_env()
        admin = self.admin_config()
        table = acl_table(settings.scored_topic, settings.consumer_group, settings.watch_group)
        try:
            done = provision(admin, role_passwords(self.cfg.env), table)
            scored = ensure_topic(admin, settings.scored_topic, partitions=settings.partitions, use_rpk=False)
        except Exception as exc:  # noqa: BLE001 - reported with the broker's log
            raise ServiceError("kafka", f"provisioning the roles failed: {exc}", node.log_path) from None
        props, twin = write_tools_files(self.cfg.kafka_dir, admin)
        log(f"kafka: {done.describe()}; topic '{scored.topic}' ready")
        log(f"kafka: the admin's client settings for tools: {props} (Java), {twin} (librdkafka), 0600")
        if self.cfg.sasl_ssl:
            log(f"kafka: SASL_SSL listener 127.0.0.1:{node.sasl_port} (SCRAM-SHA-512, CA "
                f"{self.cfg.kafka_dir / 'tls' / 'ca.pem'})")  # fmt: skip
