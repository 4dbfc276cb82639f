"""A topic's value schema in the schema registry, and the standard framing of its messages.

The subject is ``<topic>-value`` (the topic name strategy), its compatibility BACKWARD (a
reader of the new schema reads every event written with the old one). :meth:`ValueSchemas.register`
checks the schema against the latest version, registers it and sets the compatibility (the
same text is the same schema: registering again returns its id). A refused change names the
fields that make it incompatible (the registry's own answer names only the kind of change).

Framing is Confluent's wire format, which confluent-kafka's stock deserializers read: a zero
byte, the schema id as 4 bytes big-endian, then the JSON. A reader takes the writer's schema
from the registry by that id (:meth:`ValueSchemas.lookup`); no per-message validation is
needed on the producer's side.

Registration (with its compatibility check) goes through confluent-kafka's registry client.
The two reads a consumer makes (a schema by id, a subject's latest id) are two GETs of the
same API, made with the standard library: the client's import (its HTTP and OAuth stack)
took 0.11 s of every sink process's start, more than the requests themselves.
"""

from __future__ import annotations

import json
import struct
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import quote

MAGIC = 0
HEADER = struct.Struct(">bI")
TIMEOUT_S = 10  # a registry that does not answer: a clear error within this


class RegistryError(RuntimeError):
    """The registry cannot be reached or refuses the schema; says which address and why."""


def subject_for(topic: str) -> str:
    """The value subject of ``topic`` (the topic name strategy)."""
    return f"{topic}-value"


def frame(schema_id: int, payload: bytes) -> bytes:
    """``payload`` framed for ``schema_id``: magic byte, id, JSON."""
    return HEADER.pack(MAGIC, schema_id) + payload


def unframe(value: bytes) -> tuple[int | None, bytes]:
    """(schema id, JSON) of a framed message; (None, value) of an unframed one (a JSON
    object starts with ``{``, never with the zero byte)."""
    if len(value) > HEADER.size and value[0] == MAGIC:
        _, schema_id = HEADER.unpack_from(value)
        return schema_id, value[HEADER.size :]
    return None, value


def _types(prop: dict[str, Any]) -> set[str]:
    kind = prop.get("type", [])
    return set(kind) if isinstance(kind, list) else {kind}


def incompatible_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What a reader of ``new`` could not read of events written with ``old`` (closed object
    schemas): a field removed, a field newly required, or a type narrowed."""
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    changes = [f"field '{name}' removed" for name in old_props if name not in new_props]
    changes += [
        f"field '{name}' now required (events without it exist)"
        for name in sorted(new_required - old_required)
    ]
    for name, prop in new_props.items():
        if name in old_props and not _types(old_props[name]) <= _types(prop):
            was, now = sorted(_types(old_props[name])), sorted(_types(prop))
            changes.append(f"field '{name}' type {was} -> {now}")
    return changes


@dataclass(frozen=True)
class WriterSchema:
    """A schema as the registry holds it under an id: its type (``JSON``, ``AVRO``,
    ``PROTOBUF``) and its text."""

    schema_id: int
    schema_type: str
    text: str


@dataclass(frozen=True)
class Registered:
    """A registered value schema: its subject and id."""

    subject: str
    schema_id: int


class ValueSchemas:
    """The value schemas of topics in the registry at ``url`` (Confluent-compatible API).

    :param url: the registry's Confluent-compatible base URL (``LOANSTREAM_SCHEMA_REGISTRY_URL``).
    :param timeout: seconds for each request before the registry counts as unreachable.
    """

    def __init__(self, url: str, timeout: float = TIMEOUT_S) -> None:
        self.url = url
        self.timeout = timeout

    @cached_property
    def client(self) -> Any:
        """confluent-kafka's registry client (imported when first needed: registration)."""
        from confluent_kafka.schema_registry import SchemaRegistryClient

        return SchemaRegistryClient({"url": self.url, "timeout": self.timeout, "max.retries": 0})

    def register(self, topic: str, schema_text: str, compatibility: str = "BACKWARD") -> Registered:
        """Register ``schema_text`` (JSON Schema) as ``topic``'s value schema; raise
        :class:`RegistryError` naming the fields when it is not compatible."""
        from confluent_kafka.schema_registry import Schema
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        subject = subject_for(topic)
        schema = Schema(schema_text, schema_type="JSON")
        try:
            versions = self._versions(subject)
            if versions:
                latest = self.client.get_latest_version(subject).schema.schema_str
                if not self.client.test_compatibility(subject, schema):
                    changes = incompatible_changes(json.loads(latest), json.loads(schema_text))
                    raise RegistryError(
                        f"the schema registry at {self.url} refuses the new schema of {subject} "
                        f"({compatibility}): {'; '.join(changes) or 'an incompatible change'}. "
                        "Add fields as optional; publish a removed or retyped field under a "
                        "new topic (docs/EVENTS.md)"
                    )
            schema_id = self.client.register_schema(subject, schema)
            self.client.set_compatibility(subject_name=subject, level=compatibility)
        except SchemaRegistryError as exc:
            raise RegistryError(
                f"the schema registry at {self.url} refused {subject}: {exc.error_message} "
                f"(HTTP {exc.http_status_code})"
            ) from None
        except RegistryError:
            raise
        except Exception as exc:  # requests' connection errors, timeouts
            raise RegistryError(
                f"cannot reach the schema registry at {self.url} ({type(exc).__name__}); "
                "is it running? (`make status`)"
            ) from None
        return Registered(subject, schema_id)

    def lookup(self, schema_id: int) -> WriterSchema | None:
        """The schema registered under ``schema_id`` (one request), or None when the registry
        holds no such id; raise :class:`RegistryError` when it cannot be reached or fails."""
        answer = self._get(f"/schemas/ids/{int(schema_id)}", f"schema id {schema_id}")
        if answer is None:
            return None
        # the Confluent API leaves out schemaType for Avro, its first and default type
        return WriterSchema(
            schema_id, answer.get("schemaType") or "AVRO", answer.get("schema") or ""
        )

    def latest_id(self, topic: str) -> int | None:
        """The id of the latest value schema of ``topic`` (None when it has none); raise
        :class:`RegistryError` when the registry cannot be reached or fails."""
        subject = subject_for(topic)
        answer = self._get(f"/subjects/{quote(subject, safe='')}/versions/latest", subject)
        return None if answer is None else int(answer["id"])

    def _get(self, path: str, what: str) -> dict[str, Any] | None:
        """The JSON answer of ``GET <url><path>``, None when the registry holds no such
        ``what`` (404); :class:`RegistryError` naming the registry when it fails or cannot be
        reached."""
        request = urllib.request.Request(
            self.url.rstrip("/") + path,
            headers={"Accept": "application/vnd.schemaregistry.v1+json, application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - the configured registry URL
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            try:
                message = json.loads(exc.read()).get("message", exc.reason)
            except (ValueError, AttributeError):
                message = exc.reason
            raise RegistryError(
                f"the schema registry at {self.url} failed to look up {what}: {message} "
                f"(HTTP {exc.code})"
            ) from None
        except (OSError, ValueError) as exc:  # refused, timed out, not JSON
            raise RegistryError(
                f"cannot reach the schema registry at {self.url} ({type(exc).__name__}) to look "
                f"up {what}; is it running? (`make status`)"
            ) from None

    def _versions(self, subject: str) -> list[int]:
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        try:
            return list(self.client.get_versions(subject))
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                return []
            raise
