"""Every Kafka node authenticates: the broker's own credentials, the admin's SCRAM credential
bootstrapped at storage format time, and the admin's client settings for tools.

* :func:`auth_properties`: ``infra/kafka/auth.properties.in`` filled in (StandardAuthorizer,
  no ACL = no access, the broker and the admin super users, PLAIN on the controller listener,
  SCRAM-SHA-512 on the loopback one), appended to ``server.properties`` (0600).
* :func:`format_command`: ``StorageTool format ... --add-scram`` for the broker and the admin,
  its arguments in a 0600 argument file (``java @file``): the passwords never reach a command
  line, and no listener is ever open without a login.
* :func:`write_tools_files`: the admin's client settings for Kafka's own CLI tools (a Java
  properties file) and for librdkafka (its JSON twin), 0600; ``scripts/env.sh`` exports them
  as ``LOANSTREAM_KAFKA_TOOLS_PROPERTIES`` and ``LOANSTREAM_KAFKA_CLIENT_CONFIG``.

The roles' users and ACLs are made afterwards, logged in as the admin
(:mod:`loanstream.kafka.acls`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from devstack.envfile import random_password
from loanstream.kafka.acls import ADMIN_USER, BROKER_USER, MECHANISM, client_security

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "kafka" / "auth.properties.in"
STAMP = "scram-bootstrap.sha256"  # beside a node's data: which credentials it was formatted with


@dataclass(frozen=True)
class NodeCredentials:
    """The broker's own password (controller PLAIN, inter-broker SCRAM) and the admin's."""

    broker_password: str = field(repr=False)
    admin_password: str = field(repr=False)

    @classmethod
    def random(cls) -> NodeCredentials:
        """Fresh ones (the tests' private brokers)."""
        return cls(random_password(), random_password())

    def fingerprint(self) -> str:
        return hashlib.sha256(f"{self.broker_password}\n{self.admin_password}\n".encode()).hexdigest()

    def admin_security(self) -> dict[str, str]:
        """librdkafka's settings of the admin's login on the loopback listener."""
        return client_security(ADMIN_USER, self.admin_password)


def jaas(module: str, user: str, password: str, **accepted: str) -> str:
    """A ``sasl.jaas.config`` value: ``module`` logging in as ``user``; ``accepted``: the
    users a PLAIN server side accepts (``user_<name>="<password>"``)."""
    options = [f'username="{user}"', f'password="{password}"', *(f'user_{k}="{v}"' for k, v in accepted.items())]
    return f"{module} required {' '.join(options)};"


PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"


def auth_properties(credentials: NodeCredentials, template: Path = TEMPLATE) -> str:
    secret = credentials.broker_password
    return (
        template.read_text()
        .replace("@BROKER_USER@", BROKER_USER)
        .replace("@ADMIN_USER@", ADMIN_USER)
        .replace("@CONTROLLER_JAAS@", jaas(PLAIN_MODULE, BROKER_USER, secret, **{BROKER_USER: secret}))
        .replace("@LOOPBACK_JAAS@", jaas(SCRAM_MODULE, BROKER_USER, secret))
    )


def _private_write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    path.chmod(0o600)
    return path


@contextmanager
def format_command(
    java: Sequence[str], cluster_id: str, props: Path, credentials: NodeCredentials, workdir: Path
) -> Iterator[list[str]]:
    """The storage format command: ``java ... @argfile``, the file (0600, removed afterwards)
    holding the class and its arguments with the SCRAM credentials of the broker and admin."""
    scram = [
        f'"{MECHANISM}=[name={user},password={password}]"'
        for user, password in ((BROKER_USER, credentials.broker_password), (ADMIN_USER, credentials.admin_password))
    ]
    lines = ["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", f'"{props}"']
    lines += [arg for value in scram for arg in ("--add-scram", value)]
    argfile = _private_write(workdir / "format.args", "\n".join(lines) + "\n")
    try:
        yield [*java, f"@{argfile}"]
    finally:
        argfile.unlink(missing_ok=True)


def stamp_format(base: Path, credentials: NodeCredentials) -> None:
    _private_write(base / STAMP, credentials.fingerprint() + "\n")


def format_matches(base: Path, credentials: NodeCredentials) -> bool | None:
    """Was the node in ``base`` formatted with ``credentials``? None: no stamp (formatted
    before every listener authenticated)."""
    try:
        return (base / STAMP).read_text().strip() == credentials.fingerprint()
    except OSError:
        return None


def java_properties(config: dict[str, str]) -> str:
    """Kafka's Java client settings of a librdkafka SCRAM config (``sasl.jaas.config``)."""
    lines = [
        f"bootstrap.servers={config['bootstrap.servers']}",
        f"security.protocol={config['security.protocol']}",
        f"sasl.mechanism={config['sasl.mechanism']}",
        f"sasl.jaas.config={jaas(SCRAM_MODULE, config['sasl.username'], config['sasl.password'])}",
    ]
    if config.get("ssl.ca.location"):
        lines += ["ssl.truststore.type=PEM", f"ssl.truststore.location={config['ssl.ca.location']}"]
    return "\n".join(lines) + "\n"


def write_tools_files(directory: Path, config: dict[str, str]) -> tuple[Path, Path]:
    """``admin.properties`` (Kafka's CLI tools: ``--command-config`` / ``--consumer.config``)
    and ``admin.json`` (librdkafka) in ``directory``, both 0600."""
    props = _private_write(directory / "admin.properties", java_properties(config))
    twin = _private_write(directory / "admin.json", json.dumps(config, indent=2, sort_keys=True) + "\n")
    return props, twin
