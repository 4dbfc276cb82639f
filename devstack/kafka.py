"""Kafka (KRaft, from the Maven jars in ``.local/kafka/libs``): one node or a three-node cluster.

The only place in the tree that renders ``server.properties`` (``infra/kafka/server.properties.in``;
in a cluster ``infra/kafka/cluster.properties.in`` appended with the node's id and the static
quorum; always ``infra/kafka/auth.properties.in``, :mod:`devstack.kafka_auth`; with the SASL_SSL
listener ``infra/kafka/sasl_ssl.properties.in``), formats a node's storage
(``kafka.tools.StorageTool format``, the broker's and the admin's SCRAM credentials with it) and
starts a broker (``kafka.Kafka``). Every listener authenticates and the authorizer allows only
what an ACL says (:mod:`loanstream.kafka.acls`). The shared stack (``make up``,
:mod:`devstack.stack`) and the tests' private brokers and clusters use these classes with their
own ports, directories and credentials.
"""

from __future__ import annotations

import base64
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack import kafka_auth
from devstack.config import ROOT
from devstack.kafka_auth import NodeCredentials
from devstack.kafka_tls import broker_properties, client_config, make_tls
from devstack.process import Service, ServiceError, free_port, stop_services

INFRA = ROOT / "infra" / "kafka"
KAFKA_LIBS = ROOT / ".local" / "kafka" / "libs"
LOG4J = INFRA / "log4j2.xml"


@dataclass(frozen=True)
class NodePorts:
    """A node's listeners on 127.0.0.1 (``sasl`` None: no SASL_SSL listener)."""

    broker: int
    controller: int
    sasl: int | None = None


def quorum_voters(nodes: Sequence[tuple[int, int]]) -> str:
    """``controller.quorum.voters`` of ``(node id, controller port)`` pairs."""
    return ",".join(f"{node_id}@127.0.0.1:{port}" for node_id, port in nodes)


def random_cluster_id() -> str:
    """A KRaft cluster id (Kafka's Uuid: 16 random bytes, URL-safe base64, never '-' first)."""
    cluster_id = ""
    while not cluster_id or cluster_id.startswith("-"):
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    return cluster_id


def render_properties(
    ports: NodePorts,
    data_dir: Path,
    *,
    node_id: int | None = None,
    voters: str | None = None,
    sasl_block: str | None = None,
    auth_block: str | None = None,
    infra: Path = INFRA,
) -> str:
    """A node's ``server.properties``: the template with its ports and data directory; in a
    cluster (``node_id`` and ``voters``) the cluster block; the authentication block; then the
    SASL_SSL block, if any."""
    text = (
        (infra / "server.properties.in")
        .read_text()
        .replace("@KAFKA_PORT@", str(ports.broker))
        .replace("@CONTROLLER_PORT@", str(ports.controller))
        .replace("@DATA_DIR@", str(data_dir))
    )
    if node_id is not None:
        assert voters, "a cluster node needs the quorum voters"
        cluster = (infra / "cluster.properties.in").read_text()
        text += "\n" + cluster.replace("@NODE_ID@", str(node_id)).replace("@QUORUM_VOTERS@", voters)
    if auth_block:
        text += "\n" + auth_block
    if sasl_block:
        text += "\n" + sasl_block
    return text


def java_command(heap: Sequence[str], log_dir: Path, name: str, extra: Sequence[str] = ()) -> list[str]:
    """``java ... -cp libs/*`` for a node named ``name`` logging into ``log_dir``."""
    return [
        "java", *heap,
        f"-Dlog4j2.configurationFile={LOG4J}", f"-Dkafka.logs.dir={log_dir}",
        "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", f"-XX:ErrorFile={log_dir}/{name}-hs_err_%p.log",
        "-Djava.awt.headless=true", *extra, "-cp", f"{KAFKA_LIBS}/*",
    ]  # fmt: skip


def jars_present() -> bool:
    """Are the Kafka jars of ``make setup`` there?"""
    return any(KAFKA_LIBS.glob("kafka_2.13-*.jar"))


def metadata(bootstrap: str, security: dict[str, str], timeout: float = 2.0) -> Any | None:
    """The cluster metadata ``bootstrap`` answers within ``timeout`` to the login of
    ``security`` (librdkafka's SASL settings), or None."""
    from confluent_kafka.admin import AdminClient

    try:
        return AdminClient({**security, "bootstrap.servers": bootstrap, "log_level": 0}).list_topics(
            timeout=timeout
        )
    except Exception:  # noqa: BLE001 - any failure means "not healthy yet"
        return None


def brokers_registered(bootstrap: str, security: dict[str, str], timeout: float = 2.0) -> int:
    """How many brokers ``bootstrap``'s metadata lists (0 when it does not answer)."""
    meta = metadata(bootstrap, security, timeout)
    return len(meta.brokers) if meta is not None else 0


class KafkaNode(Service):
    """One combined broker+controller node: its ``server.properties`` and data live in
    ``base``; ``node_id``/``voters`` make it a member of a cluster; ``tls_dir`` adds the
    SASL_SSL listener on ``ports.sasl`` (certificates made there when missing);
    ``credentials`` are the broker's and the admin's (the same on every node of a cluster)."""

    start_timeout = 120.0

    def __init__(
        self,
        name: str,
        base: Path,
        ports: NodePorts,
        *,
        log_dir: Path | None = None,
        run_dir: Path | None = None,
        heap: Sequence[str] = ("-Xms256m", "-Xmx512m"),
        java_extra: Sequence[str] = (),
        node_id: int | None = None,
        voters: str | None = None,
        tls_dir: Path | None = None,
        stack_id: str | None = None,
        credentials: NodeCredentials,
    ) -> None:
        super().__init__(name, run_dir or base, log_dir or base, stack_id=stack_id)
        self.credentials = credentials
        self.base = base
        self.ports = ports
        self.node_id = node_id
        self.voters = voters
        self.tls_dir = tls_dir
        self.data = base / "data"
        self.props = base / "server.properties"
        self.java = java_command(heap, log_dir or base, name, java_extra)

    @property
    def port(self) -> int:
        return self.ports.broker

    @property
    def controller_port(self) -> int:
        return self.ports.controller

    @property
    def sasl_port(self) -> int | None:
        return self.ports.sasl

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.ports.broker}"

    def admin_config(self) -> dict[str, str]:
        """librdkafka's settings of the admin on this node's loopback listener."""
        return {"bootstrap.servers": self.bootstrap, **self.credentials.admin_security()}

    def render(self) -> str:
        """This node's ``server.properties`` text (see :func:`render_properties`)."""
        sasl_block = None
        if self.tls_dir is not None and self.ports.sasl is not None:
            make_tls(self.tls_dir)
            sasl_block = broker_properties(
                self.tls_dir, self.ports.broker, self.ports.controller, self.ports.sasl
            )
        return render_properties(
            self.ports, self.data, node_id=self.node_id, voters=self.voters, sasl_block=sasl_block,
            auth_block=kafka_auth.auth_properties(self.credentials),
        )  # fmt: skip

    def write_properties(self, path: Path | None = None) -> Path:
        """Render into ``path`` (default: ``server.properties``), owner-only (it holds the
        broker's password and the keystore's)."""
        path = path or self.props
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(self.render())
        return path

    def formatted(self) -> bool:
        return (self.data / "meta.properties").is_file()

    def format(self, cluster_id: str) -> None:
        """KRaft's ``StorageTool format`` of this node's data with the broker's and the admin's
        SCRAM credentials (:func:`devstack.kafka_auth.format_command`), logged to its log file."""
        self.data.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with (
            self.log_path.open("ab") as out,
            kafka_auth.format_command(self.java, cluster_id, self.props, self.credentials, self.base) as argv,
        ):
            result = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=120, check=False)
        if result.returncode != 0:
            raise ServiceError(self.name, "storage format failed", self.log_path)
        kafka_auth.stamp_format(self.base, self.credentials)

    def check_format(self) -> None:
        """Refuse to start on data formatted with other credentials (or before every listener
        authenticated): the admin could not log in."""
        matches = kafka_auth.format_matches(self.base, self.credentials)
        if matches:
            return
        why = ("was formatted before every listener authenticated" if matches is None
               else "was formatted with another LOANSTREAM_KAFKA_ADMIN_PASSWORD or _BROKER_PASSWORD")  # fmt: skip
        raise ServiceError(
            self.name, f"{self.data} {why}: put the passwords back into .env, or start Kafka and "
            "Postgres afresh together (`make clean`, then `make up`: the topics go, and so do the "
            "offsets Postgres stored for them, which the new topics' events would otherwise be "
            "taken for)",
        )  # fmt: skip

    def argv(self) -> list[str]:
        return [*self.java, "kafka.Kafka", str(self.props)]

    def healthy(self) -> bool:
        """This node answers metadata (and, in a cluster, is a registered broker)."""
        meta = metadata(self.bootstrap, self.credentials.admin_security())
        if meta is None:
            return False
        return self.node_id in meta.brokers if self.node_id is not None else bool(meta.brokers)


class PrivateKafka(KafkaNode):
    """A one-node broker in ``base`` (free ports unless ``ports``), rendered and formatted at
    once with random credentials: the tests' broker. ``sasl_ssl=True`` adds the SASL_SSL
    listener (certificates in ``base/tls``); SCRAM users are added with :meth:`add_scram_user`
    (logged in as the admin)."""

    def __init__(self, base: Path, sasl_ssl: bool = False, ports: NodePorts | None = None) -> None:
        ports = ports or NodePorts(free_port(), free_port(), free_port() if sasl_ssl else None)
        super().__init__("kafka", base, ports, tls_dir=base / "tls" if sasl_ssl else None,
                         credentials=NodeCredentials.random())  # fmt: skip
        self.ca: Path | None = make_tls(base / "tls") if sasl_ssl else None
        self.write_properties()
        self.format(random_cluster_id())

    def add_scram_user(self, user: str, password: str) -> None:
        """Create or update ``user``'s SCRAM-SHA-512 credential (as the admin)."""
        from loanstream.kafka import clients as kafka_clients
        from loanstream.kafka.acls import upsert_users

        with kafka_clients.admin_client(self.admin_config(), "SCRAM user") as admin:
            upsert_users(admin, {user: password})

    def sasl_ssl_config(self, user: str, password: str, ca: Path | None = None) -> dict[str, str]:
        """Client settings for the SASL_SSL listener (``ca``: another CA to trust instead)."""
        assert self.sasl_port is not None and self.ca is not None, "started without sasl_ssl"
        return client_config(self.sasl_port, user, password, ca or self.ca)


class KafkaCluster:
    """Three (or ``len(ports)``) combined broker+controller nodes, node ``i`` in ``base/nodeI``
    with the ports ``ports[i-1]``, all in one static quorum (the layout of
    ``LOANSTREAM_KAFKA_BROKERS=3 make up``)."""

    name = "kafka-cluster"

    def __init__(self, base: Path, ports: Sequence[NodePorts], **node_kwargs: Any) -> None:
        self.base = base
        node_kwargs.setdefault("credentials", NodeCredentials.random())
        self.credentials: NodeCredentials = node_kwargs["credentials"]
        voters = quorum_voters([(i, p.controller) for i, p in enumerate(ports, 1)])
        self.nodes = [
            KafkaNode(f"kafka-{i}" if i > 1 else "kafka", base / f"node{i}", p,
                      node_id=i, voters=voters, **node_kwargs)
            for i, p in enumerate(ports, 1)
        ]  # fmt: skip
        self.starts: list[float] = []

    @property
    def bootstrap(self) -> str:
        return ",".join(n.bootstrap for n in self.nodes)

    def admin_config(self) -> dict[str, str]:
        """librdkafka's settings of the admin, bootstrapping from every node."""
        return {"bootstrap.servers": self.bootstrap, **self.credentials.admin_security()}

    def cluster_id(self) -> str:
        """One id for all nodes (kept in ``base/cluster.id`` once made)."""
        path = self.base / "cluster.id"
        if path.is_file() and path.read_text().strip():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        cluster_id = random_cluster_id()
        path.write_text(cluster_id + "\n")
        return cluster_id

    def node(self, node_id: int) -> KafkaNode:
        return next(n for n in self.nodes if n.node_id == node_id)

    def brokers_up(self) -> int:
        return brokers_registered(self.bootstrap, self.credentials.admin_security())

    def format(self) -> None:
        """Render and format every node with one cluster id."""
        cluster_id = self.cluster_id()
        for node in self.nodes:
            node.write_properties()
            node.format(cluster_id)

    def start(self, timeout: float = 150.0) -> float:
        """Start every node that is down (together: the quorum needs two of three), wait until
        all are registered brokers; returns the seconds it took."""
        t0 = time.monotonic()
        for node in self.nodes:
            if not node.alive():
                node.launch()
        while time.monotonic() - t0 < timeout:
            for node in self.nodes:
                if not node.alive():
                    raise ServiceError(node.name, "exited during start-up", node.log_path)
            if all(node.healthy() for node in self.nodes):
                took = time.monotonic() - t0
                self.starts.append(took)
                return took
            time.sleep(0.5)
        tails = "\n".join(f"node {n.node_id}: {n.log_tail(10)}" for n in self.nodes)
        raise RuntimeError(f"Kafka cluster not up in {timeout}s:\n{tails}")

    def kill(self, node_id: int) -> None:
        """SIGKILL one node (its whole session)."""
        self.node(node_id).kill()

    def restart(self, node_id: int, timeout: float = 120.0) -> float:
        """Bring one node back on its data and ports; seconds until it is a registered broker."""
        return self.node(node_id).start(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM every node at once (one at a time, the last would wait for a quorum that is
        gone), SIGKILL what is left after ``timeout``."""
        stop_services(self.nodes, timeout)

    def leftovers(self) -> list[int]:
        return [pid for node in self.nodes for pid in node.leftovers()]
