"""Private Kafka and Postgres processes for the fault tests, and CLI subprocess helpers.

See ``tests/chaos/conftest.py`` for the fixtures that start them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import psycopg2
import pytest
from confluent_kafka.admin import AdminClient, ClusterMetadata

from loanstream.config import Settings
from tests.helpers import REPO

KAFKA_LIBS = REPO / ".local" / "kafka" / "libs"
PG_BIN = Path(os.environ.get("LOANSTREAM_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_OS_USER = "postgres"


def chaos_trials(default: int = 3) -> int:
    """Trials per repeated fault test: ``LOANSTREAM_CHAOS_TRIALS`` (default 3: smoke)."""
    return max(1, int(os.environ.get("LOANSTREAM_CHAOS_TRIALS", "") or default))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def live_processes(column: str, ident: int) -> list[int]:
    """Live processes (zombies excluded) whose ``ps`` column ``column`` (``pgid``, ``sid``)
    is ``ident``."""
    out = subprocess.run(
        ["ps", "-e", "-o", f"pid=,{column}=,stat="], capture_output=True, text=True, check=True
    ).stdout
    pids = []
    for line in out.splitlines():
        pid, value, stat = line.split(None, 2)
        if int(value) == ident and not stat.startswith("Z"):
            pids.append(int(pid))
    return pids


def group_alive(pgid: int) -> list[int]:
    """Live processes of process group ``pgid``."""
    return live_processes("pgid", pgid)


def _kill_group(proc: subprocess.Popen, sig: int, timeout: float) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    deadline = time.monotonic() + 10
    while group_alive(proc.pid) and time.monotonic() < deadline:  # children of the group
        time.sleep(0.1)
    left = group_alive(proc.pid)
    if left:
        for pid in left:
            os.kill(pid, signal.SIGKILL)



def _metadata(bootstrap: str) -> ClusterMetadata | None:
    """The cluster metadata ``bootstrap`` answers within 2 s, or None."""
    try:
        return AdminClient({"bootstrap.servers": bootstrap, "log_level": 0}).list_topics(timeout=2)
    except Exception:  # noqa: BLE001 - any failure means "not healthy yet"
        return None

class _Service:
    name = "service"

    def __init__(self, base: Path) -> None:
        self.base = base
        self.proc: subprocess.Popen | None = None
        self.log_path = base / f"{self.name}.log"
        self.kills = 0
        self.starts: list[float] = []  # seconds each start took until healthy

    def _popen(self, argv: list[str], **kwargs) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, **kwargs,
        )  # fmt: skip
        log.close()

    def healthy(self) -> bool:
        raise NotImplementedError

    def _launch(self) -> None:
        raise NotImplementedError

    def start(self, timeout: float = 90.0) -> float:
        """Start (or restart) on the same data and port; returns seconds until healthy."""
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} already running"
        t0 = time.monotonic()
        self._launch()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"private {self.name} exited at start: {self.log_tail()}")
            if self.healthy():
                took = time.monotonic() - t0
                self.starts.append(took)
                return took
            time.sleep(0.2)
        raise RuntimeError(f"private {self.name} not healthy in {timeout}s: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, nothing flushed or shut down cleanly."""
        assert self.proc is not None
        _kill_group(self.proc, signal.SIGKILL, 10)
        self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            _kill_group(self.proc, signal.SIGTERM, 30)

    def leftovers(self) -> list[int]:
        return group_alive(self.proc.pid) if self.proc is not None else []

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class PrivateKafka(_Service):
    """A one-node KRaft broker on free ports. ``sasl_ssl=True`` adds the SASL_SSL listener
    (SCRAM-SHA-512 over TLS) of ``make up`` with LOANSTREAM_KAFKA_SASL_SSL=1: the same
    ``infra/kafka/sasl_ssl.properties.in`` and certificates made by ``scripts/kafka_sasl.py``
    (in ``base/tls``); SCRAM users are added with :meth:`add_scram_user`."""

    name = "kafka"

    def __init__(self, base: Path, sasl_ssl: bool = False) -> None:
        super().__init__(base)
        self.port = free_port()
        self.controller_port = free_port()
        self.sasl_port = free_port() if sasl_ssl else None
        self.data = base / "data"
        self.props = base / "server.properties"
        template = (REPO / "infra" / "kafka" / "server.properties.in").read_text()
        text = (
            template.replace("@KAFKA_PORT@", str(self.port))
            .replace("@CONTROLLER_PORT@", str(self.controller_port))
            .replace("@DATA_DIR@", str(self.data))
        )
        self.ca: Path | None = None
        if self.sasl_port is not None:
            from kafka_sasl import broker_properties, make_tls

            self.ca = make_tls(base / "tls")
            text += "\n" + broker_properties(
                base / "tls", self.port, self.controller_port, self.sasl_port
            )
        self.props.write_text(text)
        self.props.chmod(0o600)  # the keystore password
        self.java = [
            "java", "-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={REPO / 'infra' / 'kafka' / 'log4j2.xml'}",
            f"-Dkafka.logs.dir={base}", "-cp", f"{KAFKA_LIBS}/*",
        ]  # fmt: skip
        format_storage(self.java, self.props, self.log_path, _random_cluster_id())

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _launch(self) -> None:
        self._popen([*self.java, "kafka.Kafka", str(self.props)])

    def add_scram_user(self, user: str, password: str) -> None:
        """Create ``user`` with a SCRAM-SHA-512 credential (through the PLAINTEXT listener)."""
        from kafka_sasl import ensure_scram_user

        ensure_scram_user(self.bootstrap, user, password)

    def sasl_ssl_config(self, user: str, password: str, ca: Path | None = None) -> dict[str, str]:
        """Client settings for the SASL_SSL listener (``ca``: another CA to trust instead)."""
        from kafka_sasl import client_config

        assert self.sasl_port is not None and self.ca is not None, "started without sasl_ssl"
        return client_config(self.sasl_port, user, password, ca or self.ca)

    def healthy(self) -> bool:
        meta = _metadata(self.bootstrap)
        return meta is not None and bool(meta.brokers)


def _random_cluster_id() -> str:
    cluster_id = ""
    while not cluster_id or cluster_id.startswith("-"):
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    return cluster_id


def format_storage(java: list[str], props: Path, log_path: Path, cluster_id: str) -> None:
    """KRaft's ``StorageTool format`` of the node configured by ``props``, logged to ``log_path``."""
    with log_path.open("ab") as log:
        subprocess.run(
            [*java, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props)],
            stdout=log, stderr=subprocess.STDOUT, check=True, timeout=120,
        )  # fmt: skip


def kafka_java(base: Path, heap: str = "-Xmx512m") -> list[str]:
    """``java ... -cp libs/*`` for a private broker logging into ``base``."""
    return [
        "java", "-Xms128m", heap, "-XX:+UseG1GC", "-XX:TieredStopAtLevel=1",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={REPO / 'infra' / 'kafka' / 'log4j2.xml'}",
        f"-Dkafka.logs.dir={base}", "-cp", f"{KAFKA_LIBS}/*",
    ]  # fmt: skip


class ClusterNode(_Service):
    """One combined broker+controller node of :class:`PrivateKafkaCluster`."""

    name = "kafka"

    def __init__(self, base: Path, node_id: int, port: int, controller_port: int) -> None:
        base.mkdir(parents=True, exist_ok=True)
        super().__init__(base)
        self.node_id = node_id
        self.port = port
        self.controller_port = controller_port
        self.props = base / "server.properties"
        self.java = kafka_java(base, "-Xmx256m")

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def render(self, voters: str) -> None:
        base_props = (REPO / "infra" / "kafka" / "server.properties.in").read_text()
        cluster = (REPO / "infra" / "kafka" / "cluster.properties.in").read_text()
        text = (
            (base_props + "\n" + cluster)
            .replace("@KAFKA_PORT@", str(self.port))
            .replace("@CONTROLLER_PORT@", str(self.controller_port))
            .replace("@DATA_DIR@", str(self.base / "data"))
            .replace("@NODE_ID@", str(self.node_id))
            .replace("@QUORUM_VOTERS@", voters)
        )
        self.props.write_text(text)

    def format(self, cluster_id: str) -> None:
        format_storage(self.java, self.props, self.log_path, cluster_id)

    def _launch(self) -> None:
        self._popen([*self.java, "kafka.Kafka", str(self.props)])

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def healthy(self) -> bool:
        """This node answers metadata and is registered as a broker."""
        meta = _metadata(self.bootstrap)
        return meta is not None and self.node_id in meta.brokers


class PrivateKafkaCluster:
    """A private three-node KRaft cluster (three combined broker+controller nodes, the layout
    of ``LOANSTREAM_KAFKA_BROKERS=3 make up``: ``infra/kafka/cluster.properties.in``) on free
    ports, 256 MiB of heap each. ``kill(node_id)`` SIGKILLs one node, ``restart(node_id)``
    brings it back on its data and ports."""

    name = "kafka-cluster"

    def __init__(self, base: Path, size: int = 3) -> None:
        self.base = base
        self.nodes = [
            ClusterNode(base / f"node{i}", i, free_port(), free_port()) for i in range(1, size + 1)
        ]
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        cluster_id = _random_cluster_id()
        for node in self.nodes:
            node.render(voters)
            node.format(cluster_id)
        self.starts: list[float] = []

    @property
    def bootstrap(self) -> str:
        return ",".join(n.bootstrap for n in self.nodes)

    def node(self, node_id: int) -> ClusterNode:
        return next(n for n in self.nodes if n.node_id == node_id)

    def brokers_up(self) -> int:
        try:
            meta = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0}).list_topics(
                timeout=2
            )
        except Exception:  # noqa: BLE001
            return 0
        return len(meta.brokers)

    def start(self, timeout: float = 150.0) -> float:
        """Start every node that is down (together: the quorum needs two of three), wait until
        all are registered brokers; returns the seconds it took."""
        t0 = time.monotonic()
        for node in self.nodes:
            if not node.alive():
                node._launch()
        while time.monotonic() - t0 < timeout:
            for node in self.nodes:
                if not node.alive():
                    raise RuntimeError(f"cluster node {node.node_id} exited: {node.log_tail()}")
            if all(node.healthy() for node in self.nodes):
                took = time.monotonic() - t0
                self.starts.append(took)
                return took
            time.sleep(0.5)
        tails = "\n".join(f"node {n.node_id}: {n.log_tail(10)}" for n in self.nodes)
        raise RuntimeError(f"private Kafka cluster not up in {timeout}s:\n{tails}")

    def leader(self, topic: str, partition: int) -> int:
        """Node id leading ``partition`` of ``topic`` now (-1: none)."""
        meta = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0}).list_topics(
            timeout=10
        )
        return meta.topics[topic].partitions[partition].leader

    def isr(self, topic: str) -> dict[int, list[int]]:
        meta = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0}).list_topics(
            timeout=10
        )
        return {p: list(info.isrs) for p, info in meta.topics[topic].partitions.items()}

    def kill(self, node_id: int) -> None:
        self.node(node_id).kill()

    def restart(self, node_id: int, timeout: float = 120.0) -> float:
        return self.node(node_id).start(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM every node at once (one at a time, the last would wait for a quorum that
        is gone), SIGKILL what is left after ``timeout`` (the data is thrown away anyway)."""
        live = [node.proc for node in self.nodes if node.alive()]
        for proc in live:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in live:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
        for proc in live:
            _kill_group(proc, signal.SIGKILL, 10)

    def leftovers(self) -> list[int]:
        return [pid for node in self.nodes for pid in node.leftovers()]


@contextlib.contextmanager
def running_kafka_cluster(label: str = "cluster", size: int = 3) -> Iterator[PrivateKafkaCluster]:
    """A private cluster, as ``running``."""
    require_kafka_jars()
    with running(PrivateKafkaCluster(private_dir(label), size)) as cluster:
        yield cluster


class PrivatePostgres(_Service):
    name = "postgres"

    def __init__(self, base: Path) -> None:
        super().__init__(base)
        self.port = free_port()
        self.data = base / "data"
        self.socket_dir = base / "socket"
        self.socket_dir.mkdir()
        shutil.chown(base, PG_OS_USER, PG_OS_USER)
        shutil.chown(self.socket_dir, PG_OS_USER, PG_OS_USER)
        self.log_path.touch()
        shutil.chown(self.log_path, PG_OS_USER, PG_OS_USER)
        subprocess.run(
            [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-E", "UTF8",
             "--locale=C.UTF-8", "--auth=trust"],
            user=PG_OS_USER, cwd=base, capture_output=True, check=True, timeout=120,
        )  # fmt: skip

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _launch(self) -> None:
        self._popen(
            [str(PG_BIN / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-k", str(self.socket_dir), "-c", "listen_addresses=127.0.0.1",
             "-c", "max_connections=100"],
            user=PG_OS_USER, cwd=self.base,
        )  # fmt: skip

    def healthy(self) -> bool:
        try:
            psycopg2.connect(self.dsn, connect_timeout=2).close()
        except psycopg2.OperationalError:
            return False
        return True

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            _kill_group(self.proc, signal.SIGINT, 30)  # SIGINT: fast shutdown


def private_dir(prefix: str) -> Path:
    # Not under pytest's tmp dir: that one is root-only, and postgres must reach its data.
    path = Path(tempfile.mkdtemp(prefix=f"loanstream-chaos-{prefix}-", dir="/tmp"))
    path.chmod(0o755)
    return path


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def last_json(self) -> dict:
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        assert lines, f"no stdout; stderr:\n{self.stderr[-3000:]}"
        return json.loads(lines[-1])


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "LOANSTREAM_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "LOANSTREAM_PG_DSN": settings.pg_dsn,
            "PYTHONUNBUFFERED": "1",
            "PYTHONFAULTHANDLER": "1",
        }
    )
    env.update(extra)
    return env


def cli_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "loanstream.cli", *args]


def run_cli(settings: Settings, *args: str, timeout: float = 120, **env: str) -> CliResult:
    t0 = time.monotonic()
    proc = subprocess.run(
        cli_argv(*args), env=cli_env(settings, **env), capture_output=True, text=True,
        timeout=timeout, cwd=REPO,
    )  # fmt: skip
    return CliResult(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0)


def start_cli(settings: Settings, *args: str, log: Path, **env: str) -> subprocess.Popen:
    """A CLI run in the background, stdout+stderr to ``log`` (so kills lose nothing of it)."""
    handle = log.open("ab")
    try:
        return subprocess.Popen(
            cli_argv(*args), env=cli_env(settings, **env), stdout=handle,
            stderr=subprocess.STDOUT, cwd=REPO,
        )  # fmt: skip
    finally:
        handle.close()


class PrivateStack(Protocol):
    """What ``running`` needs: a private service, cluster or stack in its own directory."""

    name: str
    base: Path

    def start(self) -> object: ...

    def stop(self) -> None: ...

    def leftovers(self) -> list[int]: ...


StackT = TypeVar("StackT", bound=PrivateStack)


def require_kafka_jars() -> None:
    if not list(KAFKA_LIBS.glob("kafka_2.13-*.jar")):
        pytest.fail(f"no Kafka jars in {KAFKA_LIBS}: run `make setup` first", pytrace=False)


@contextlib.contextmanager
def running(service: StackT) -> Iterator[StackT]:
    """``service`` started, then stopped and its directory removed; fails if any of its
    processes is left."""
    try:
        service.start()
        yield service
    finally:
        service.stop()
        left = service.leftovers()
        shutil.rmtree(service.base, ignore_errors=True)
        assert not left, f"private {service.name} processes left after stop: {left}"


@contextlib.contextmanager
def running_private_kafka(label: str, **kwargs: object) -> Iterator[PrivateKafka]:
    """A private broker from the project's jars (``PrivateKafka(**kwargs)``), as ``running``."""
    require_kafka_jars()
    with running(PrivateKafka(private_dir(label), **kwargs)) as kafka:
        yield kafka
