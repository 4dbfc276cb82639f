"""The stack's schema registry (Apicurio Registry, `make up`) through the stock Confluent client.

A JSON schema is registered under ``<topic>-value`` with compatibility BACKWARD: an added
optional field is accepted, a removed required field is refused, and what was registered
survives a restart of the registry (``python -m devstack restart-registry``: its schemas live
in Postgres), with the same id.

What Apicurio's Confluent-compatible API says when it refuses a change (3.3.3): HTTP 409,
error code 409, ``RuleViolationException: Incompatible artifact: <subject> [JSON], ... list of
diff types: [Object type property schemas narrowed at /propertySchemasRemoved]``. It names
the subject and the kind of change, not the removed property itself (its native v3 API's
``causes`` do not either), so that is what is asserted.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from devstack.process import read_pidfile
from tests.helpers import restart_registry
from tests.resources import unique_name

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
# a loan application event, closed (no other properties): the contract a topic's events keep
V1: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "loan_application",
    "type": "object",
    "properties": {
        "loan_id": {"type": "string"},
        "loan_amnt": {"type": "number"},
        "term": {"type": "string"},
    },
    "required": ["loan_id", "loan_amnt"],
    "additionalProperties": False,
}


def json_schema(document: dict[str, Any]) -> Schema:
    return Schema(json.dumps(document), schema_type="JSON")


def with_optional_purpose() -> dict[str, Any]:
    """V1 and an optional ``purpose``: old events still validate (BACKWARD compatible)."""
    v2 = copy.deepcopy(V1)
    v2["properties"]["purpose"] = {"type": "string"}
    return v2


def without_loan_amnt() -> dict[str, Any]:
    """V1 less its required ``loan_amnt``: old events carry it, and the closed schema refuses
    them (not BACKWARD compatible)."""
    v3 = with_optional_purpose()
    del v3["properties"]["loan_amnt"]
    v3["required"] = ["loan_id"]
    return v3


@pytest.fixture
def client(schema_registry_url: str) -> SchemaRegistryClient:
    """A fresh client (its caches empty)."""
    return SchemaRegistryClient({"url": schema_registry_url})


@pytest.fixture
def subject(client: SchemaRegistryClient) -> Iterator[str]:
    """``<topic>-value`` for a unique topic name; the subject is deleted afterwards."""
    name = f"{unique_name('registry_contract')}-value"
    yield name
    with contextlib.suppress(SchemaRegistryError):
        client.delete_subject(name)
        client.delete_subject(name, permanent=True)


def test_backward_compatibility_accepts_an_optional_field_and_refuses_a_removed_one(
    client: SchemaRegistryClient, subject: str
) -> None:
    first = client.register_schema(subject, json_schema(V1))
    client.set_compatibility(subject, "BACKWARD")
    assert client.get_compatibility(subject) == "BACKWARD"

    assert client.test_compatibility(subject, json_schema(with_optional_purpose()))
    second = client.register_schema(subject, json_schema(with_optional_purpose()))
    assert second != first
    assert client.get_versions(subject) == [1, 2]

    assert not client.test_compatibility(subject, json_schema(without_loan_amnt()))
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema(subject, json_schema(without_loan_amnt()))
    error = refused.value
    assert error.http_status_code == 409, error
    assert "Incompatible artifact" in error.error_message and subject in error.error_message
    assert "propertySchemasRemoved" in error.error_message, error.error_message
    assert client.get_versions(subject) == [1, 2]  # nothing registered
    latest = client.get_latest_version(subject)
    assert latest.schema_id == second and latest.version == 2


def test_a_registered_schema_survives_a_registry_restart(
    client: SchemaRegistryClient, subject: str, schema_registry_url: str
) -> None:
    schema_id = client.register_schema(subject, json_schema(V1))
    client.set_compatibility(subject, "BACKWARD")
    pid_before = read_pidfile(ROOT / ".local" / "run" / "schema-registry.pid")

    restart_registry()

    pid_after = read_pidfile(ROOT / ".local" / "run" / "schema-registry.pid")
    assert pid_after is not None and pid_after != pid_before, "the registry did not restart"
    fresh = SchemaRegistryClient({"url": schema_registry_url})  # nothing cached
    registered = fresh.lookup_schema(subject, json_schema(V1))
    assert registered.schema_id == schema_id and registered.version == 1
    assert json.loads(fresh.get_schema(schema_id).schema_str) == V1
    assert fresh.get_compatibility(subject) == "BACKWARD"
    # and the rule still holds after the restart
    assert not fresh.test_compatibility(subject, json_schema(without_loan_amnt()))
