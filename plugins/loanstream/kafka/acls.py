"""Who may do what on the Kafka cluster: the SCRAM principals by role and their ACLs.

The broker runs KRaft's ``StandardAuthorizer`` with ``allow.everyone.if.no.acl.found=false``:
a principal may do only what an ACL below allows. Users are the role names (SCRAM-SHA-512):

| principal | may                                                                           |
|-----------|-------------------------------------------------------------------------------|
| broker    | everything (super user): the nodes' own traffic (controller, replication)     |
| admin     | everything (super user): topics, ACLs, SCRAM users; ``make up``, ``create_topic``, tests, tools |
| producer  | WRITE, DESCRIBE any topic; IDEMPOTENT_WRITE on the cluster; **DENY** WRITE on the scored topic and on names starting with ``_`` or ``-`` |
| sink      | READ, DESCRIBE any topic but ``_``-prefixed ones; READ its consumer groups (prefix ``LOANSTREAM_CONSUMER_GROUP``); WRITE, DESCRIBE_CONFIGS the scored topic; IDEMPOTENT_WRITE (the republisher) |
| watcher   | READ, DESCRIBE any topic but ``_``-prefixed ones; READ its own group (``LOANSTREAM_WATCH_GROUP``) |

The topic rule of :func:`loanstream.runs.params.run_topic` (not the scored topic, no leading
``_`` or ``-``) is enforced a second time here, by the broker: an ALLOW on every topic
(LITERAL ``*``) and DENY bindings for the scored topic (LITERAL) and the ``_``/``-`` prefixes
(PREFIXED). A DENY wins over any ALLOW in Kafka's authorizer, so no later ALLOW (a per-topic
grant made by hand, say) can reopen them. ``LOANSTREAM_TOPIC_PATTERN`` is a regular
expression, which ACLs cannot express: ``run_params`` alone checks it.

:func:`provision` creates or updates the role users and makes the ACLs exactly the table's
(missing ones created, a role's others deleted), logged in as the admin. Idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

BROKER_USER = "broker"  # the nodes' own principal (controller PLAIN, inter-broker SCRAM)
ADMIN_USER = "admin"
ROLES = ("admin", "producer", "sink", "watcher")  # SCRAM users: the role's name
SUPER_USERS = (BROKER_USER, ADMIN_USER)
MECHANISM = "SCRAM-SHA-512"
SCRAM_ITERATIONS = 8192
CLUSTER = "kafka-cluster"  # the name of the cluster resource in ACLs
ANY_TOPIC = "*"
RESERVED_PREFIXES = ("_", "-")  # topic names no run may write (loanstream.runs.params)


@dataclass(frozen=True)
class Grant:
    """One ACL of a role: ``permission`` (ALLOW/DENY) of ``operation`` on a resource."""

    resource: str  # TOPIC, GROUP, CLUSTER
    name: str
    pattern: str  # LITERAL, PREFIXED
    operation: str  # READ, WRITE, DESCRIBE, DESCRIBE_CONFIGS, IDEMPOTENT_WRITE
    permission: str = "ALLOW"

    def describe(self) -> str:
        return f"{self.permission} {self.operation} on {self.resource} {self.pattern} '{self.name}'"


def _topic(name: str, *operations: str, pattern: str = "LITERAL", permission: str = "ALLOW") -> list[Grant]:
    return [Grant("TOPIC", name, pattern, op, permission) for op in operations]


def role_grants(role: str, *, scored_topic: str, consumer_group: str, watch_group: str) -> tuple[Grant, ...]:
    """The ACLs of ``role`` (the admin has none: it is a super user)."""
    deny_reserved = [
        g for prefix in RESERVED_PREFIXES for g in _topic(prefix, "WRITE", pattern="PREFIXED", permission="DENY")
    ]
    deny_internal_reads = _topic("_", "READ", pattern="PREFIXED", permission="DENY")
    idempotent = [Grant("CLUSTER", CLUSTER, "LITERAL", "IDEMPOTENT_WRITE")]
    grants: dict[str, list[Grant]] = {
        "admin": [],
        "producer": [
            *_topic(ANY_TOPIC, "WRITE", "DESCRIBE"),
            *idempotent,
            *_topic(scored_topic, "WRITE", permission="DENY"),
            *deny_reserved,
        ],
        "sink": [
            *_topic(ANY_TOPIC, "READ", "DESCRIBE"),
            *deny_internal_reads,
            Grant("GROUP", consumer_group, "PREFIXED", "READ"),
            *_topic(scored_topic, "WRITE", "DESCRIBE_CONFIGS"),
            *idempotent,
        ],
        "watcher": [
            *_topic(ANY_TOPIC, "READ", "DESCRIBE"),
            *deny_internal_reads,
            Grant("GROUP", watch_group, "LITERAL", "READ"),
        ],
    }
    if role not in grants:
        raise ValueError(f"unknown Kafka role {role!r}: one of {', '.join(ROLES)}")
    return tuple(grants[role])


def acl_table(scored_topic: str, consumer_group: str, watch_group: str) -> dict[str, tuple[Grant, ...]]:
    """Every role's ACLs (:func:`role_grants`)."""
    return {
        role: role_grants(role, scored_topic=scored_topic, consumer_group=consumer_group, watch_group=watch_group)
        for role in ROLES
    }


def principal(user: str) -> str:
    return f"User:{user}"


_RESOURCE_TYPES = {"CLUSTER": "BROKER"}  # confluent-kafka's name of the cluster resource


def binding(user: str, grant: Grant) -> Any:
    """The confluent-kafka ``AclBinding`` of ``user``'s ``grant`` (any host)."""
    from confluent_kafka.admin import (
        AclBinding,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    return AclBinding(
        ResourceType[_RESOURCE_TYPES.get(grant.resource, grant.resource)], grant.name, ResourcePatternType[grant.pattern], principal(user), "*",
        AclOperation[grant.operation], AclPermissionType[grant.permission],
    )  # fmt: skip


def _key(acl: Any) -> tuple[str, ...]:
    return (
        acl.restype.name, acl.name, acl.resource_pattern_type.name, acl.principal, acl.host,
        acl.operation.name, acl.permission_type.name,
    )  # fmt: skip


@dataclass(frozen=True)
class Provisioned:
    users: tuple[str, ...]
    created: int  # ACL bindings created
    deleted: int  # bindings of a role that the table no longer has
    kept: int

    def describe(self) -> str:
        return (
            f"SCRAM users {', '.join(self.users)}; ACLs: {self.created} created, "
            f"{self.kept} kept, {self.deleted} deleted"
        )


def upsert_users(admin: Any, passwords: Mapping[str, str], timeout: float = 30.0) -> None:
    """Create or update each user's SCRAM-SHA-512 credential (needs ALTER on the cluster:
    the admin)."""
    from confluent_kafka.admin import (
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
    upserts = [UserScramCredentialUpsertion(user, info, password.encode()) for user, password in passwords.items()]
    if not upserts:
        return
    for user, future in admin.alter_user_scram_credentials(upserts, request_timeout=timeout).items():
        try:
            future.result(timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - re-raised with the user's name, never the password
            raise RuntimeError(f"SCRAM user '{user}': {exc}") from None


def provision(
    admin_config: Mapping[str, Any],
    passwords: Mapping[str, str],
    table: Mapping[str, tuple[Grant, ...]],
    timeout: float = 30.0,
) -> Provisioned:
    """Log in with ``admin_config`` (the admin's), upsert the users of ``passwords`` (role ->
    password; the admin's own credential is never changed here) and make each role's ACLs
    exactly ``table``'s."""
    from confluent_kafka.admin import (
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    from loanstream.kafka import clients as kafka_clients

    users = {role: pw for role, pw in passwords.items() if role != ADMIN_USER}
    created = deleted = kept = 0
    with kafka_clients.admin_client(dict(admin_config), "roles and ACLs") as admin:
        upsert_users(admin, users, timeout)
        for role, grants in table.items():
            wanted = {_key(b): b for b in (binding(role, g) for g in grants)}
            any_of_role = AclBindingFilter(
                ResourceType.ANY, None, ResourcePatternType.ANY, principal(role), None,
                AclOperation.ANY, AclPermissionType.ANY,
            )  # fmt: skip
            existing = {_key(b): b for b in admin.describe_acls(any_of_role, request_timeout=timeout).result(timeout)}
            stale = [
                AclBindingFilter(b.restype, b.name, b.resource_pattern_type, b.principal, b.host,
                                 b.operation, b.permission_type)  # fmt: skip
                for key, b in existing.items()
                if key not in wanted
            ]
            if stale:
                for future in admin.delete_acls(stale, request_timeout=timeout).values():
                    future.result(timeout)
            new = [b for key, b in wanted.items() if key not in existing]
            if new:
                for future in admin.create_acls(new, request_timeout=timeout).values():
                    future.result(timeout)
            created, deleted, kept = created + len(new), deleted + len(stale), kept + len(wanted) - len(new)
    result = Provisioned(tuple(users), created, deleted, kept)
    log.info("Kafka roles: %s", result.describe())
    return result


def client_security(user: str, password: str, protocol: str = "SASL_PLAINTEXT") -> dict[str, str]:
    """librdkafka's settings of a SCRAM login (without ``bootstrap.servers``)."""
    return {
        "security.protocol": protocol,
        "sasl.mechanism": MECHANISM,
        "sasl.username": user,
        "sasl.password": password,
    }
