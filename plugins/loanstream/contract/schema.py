"""The JSON Schema (draft-07) of ``loan_application`` events, generated from :mod:`.fields`.

Closed (``additionalProperties: false``): a reader can rely on every field it knows and on no
other, and a registry in BACKWARD mode accepts an added optional field while it refuses a
removed required one. The text is canonical (sorted keys, no spaces), so the same contract
always registers as the same schema.
"""

from __future__ import annotations

import json
from typing import Any

from loanstream.contract.fields import (
    EVENT_TIME_FIELD,
    FIELDS,
    KEY_FIELD,
    KIND_JSON,
    NAME,
    VERSION,
    Field,
)

_PATTERNS = {"id": "^[0-9]+$", "month": "^[0-9]{4}-(0[1-9]|1[0-2])$"}


def field_schema(field: Field) -> dict[str, Any]:
    """The schema of one field: its JSON type (with null when nullable), unit and meaning."""
    json_type, form = KIND_JSON[field.kind]
    schema: dict[str, Any] = {
        "type": [json_type, "null"] if field.nullable else json_type,
        "description": f"{field.description} ({form}; known: {field.known})",
    }
    if field.unit:
        schema["x-unit"] = field.unit
    if field.kind in _PATTERNS:
        schema["pattern"] = _PATTERNS[field.kind]
    if field.kind in ("years",):
        schema["minimum"], schema["maximum"] = 0, 10
    return schema


def json_schema() -> dict[str, Any]:
    """The whole event: every field (present, null when blank) and ``event_time``."""
    properties = {field.name: field_schema(field) for field in FIELDS}
    properties[EVENT_TIME_FIELD] = {
        "type": "string",
        "format": "date-time",
        "description": "when the producer sent the event (UTC, ISO 8601 with microseconds)",
    }
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": NAME,
        "description": (
            f"A LendingClub loan application as known when it was applied for "
            f"({NAME} v{VERSION}); the Kafka key is the loan id ('{KEY_FIELD}')."
        ),
        "type": "object",
        "properties": properties,
        "required": [*(f.name for f in FIELDS), EVENT_TIME_FIELD],
        "additionalProperties": False,
    }


def schema_text() -> str:
    """The schema as canonical JSON text (what the producer registers)."""
    return json.dumps(json_schema(), sort_keys=True, separators=(",", ":"))
