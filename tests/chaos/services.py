"""Private Kafka and Postgres processes for the fault tests, and CLI subprocess helpers.

The services are devstack's classes (``devstack/kafka.py``, ``devstack/postgres.py``: the
same start command, storage format and ``initdb`` as ``make up``) on free ports in private
directories. See ``tests/chaos/conftest.py`` for the fixtures that start them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import pytest
from confluent_kafka.admin import AdminClient, ClusterMetadata

from devstack.kafka import (
    KAFKA_LIBS,
    KafkaCluster,
    KafkaNode,
    NodePorts,
    PrivateKafka,
    jars_present,
)
from devstack.postgres import Postgres
from devstack.process import free_port
from loanstream.config import KAFKA_SECURITY_ENV, Settings
from tests.helpers import REPO

__all__ = ["PrivateKafka", "free_port"]  # the tests import them from here


def kafka_settings(kafka: KafkaNode | KafkaCluster, **kwargs: object) -> Settings:
    """Settings of a private broker or cluster, logged in as its admin (its own random
    credentials: never the shared stack's); the schema registry is the shared stack's."""
    kwargs.setdefault("schema_registry_url", Settings.from_env().schema_registry_url)
    return Settings(bootstrap_servers=kafka.bootstrap, kafka_security=kafka.credentials.admin_security(),
                    **kwargs)  # type: ignore[arg-type]  # fmt: skip


def chaos_trials(default: int = 3) -> int:
    """Trials per repeated fault test: ``LOANSTREAM_CHAOS_TRIALS`` (default 3: smoke)."""
    return max(1, int(os.environ.get("LOANSTREAM_CHAOS_TRIALS", "") or default))


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


class PrivateKafkaCluster(KafkaCluster):
    """A private three-node KRaft cluster (three combined broker+controller nodes, the layout
    of ``LOANSTREAM_KAFKA_BROKERS=3 make up``) on free ports, 256 MiB of heap each.
    ``kill(node_id)`` SIGKILLs one node, ``restart(node_id)`` brings it back on its data and
    ports."""

    def __init__(self, base: Path, size: int = 3) -> None:
        ports = [NodePorts(free_port(), free_port()) for _ in range(size)]
        super().__init__(base, ports, heap=("-Xms128m", "-Xmx256m"),
                         java_extra=("-XX:TieredStopAtLevel=1",))  # fmt: skip
        self.format()

    def _metadata(self) -> ClusterMetadata:
        return AdminClient({**self.admin_config(), "log_level": 0}).list_topics(
            timeout=10
        )

    def leader(self, topic: str, partition: int) -> int:
        """Node id leading ``partition`` of ``topic`` now (-1: none)."""
        return self._metadata().topics[topic].partitions[partition].leader

    def isr(self, topic: str) -> dict[int, list[int]]:
        return {p: list(info.isrs) for p, info in self._metadata().topics[topic].partitions.items()}


@contextlib.contextmanager
def running_kafka_cluster(label: str = "cluster", size: int = 3) -> Iterator[PrivateKafkaCluster]:
    """A private cluster, as ``running``."""
    require_kafka_jars()
    with running(PrivateKafkaCluster(private_dir(label), size)) as cluster:
        yield cluster


class PrivatePostgres(Postgres):
    """A throwaway server (trust auth on 127.0.0.1) ``initdb``'d into ``base``, on a free port."""

    def __init__(self, base: Path) -> None:
        super().__init__(base, free_port(), auth="trust")
        self.initdb()


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


def provision_roles(kafka: KafkaNode | KafkaCluster) -> dict[str, dict[str, str]]:
    """What ``make up`` does on the shared broker, on a private one: the roles' SCRAM users
    (random passwords) and ACLs (``loanstream.kafka.acls``). Each role's client settings,
    the admin's included."""
    from devstack.envfile import random_password
    from loanstream.kafka.acls import ROLES, acl_table, client_security, provision

    env = Settings.from_env()
    passwords = {role: random_password() for role in ROLES if role != "admin"}
    provision(kafka.admin_config(), passwords, acl_table(env.scored_topic, env.consumer_group, env.watch_group))
    configs = {role: {"bootstrap.servers": kafka.bootstrap, **client_security(role, pw)} for role, pw in passwords.items()}
    return {"admin": kafka.admin_config(), **configs}


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The CLI's environment: ``settings``' broker, login (in the environment, never on the
    command line) and database."""
    env = dict(os.environ)
    env["LOANSTREAM_KAFKA_CLIENT_CONFIG"] = ""  # settings' own login, not the shared admin's file
    env.update({var: settings.kafka_security.get(key, "") for var, key in KAFKA_SECURITY_ENV.items()})
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
    if not jars_present():
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
