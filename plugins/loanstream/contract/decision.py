"""``risk_decision`` v1: what the sink republishes to the scored topic, defined once.

One event per scored ``loan_application`` event, keyed by the loan id, with the source
topic/partition/offset in its headers (``loanstream.sink.republisher``). Its fields are the
score of the rules in force (``include/rules/risk_rules.yaml``) and the application's
``event_time``; ``loanstream.sink.rows`` builds exactly these (a unit test validates the
payloads of both samples against this schema). The JSON Schema (draft-07) is closed and its
text canonical, as the application's (:mod:`.schema`); the sink registers it under
``<scored topic>-value`` (BACKWARD) when it starts republishing, and frames every event with
its id. ``docs/EVENTS.md`` has the table :mod:`.docs` generates from :data:`FIELDS`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from loanstream.scoring import DECISIONS, MAX_SCORE

NAME = "risk_decision"
VERSION = 1
KEY_FIELD = "loan_id"


@dataclass(frozen=True)
class DecisionField:
    """One field of a decision event: ``name``, its JSON Schema (``schema``), and what it
    holds (``description``)."""

    name: str
    schema: dict[str, Any]
    description: str


FIELDS: tuple[DecisionField, ...] = (
    DecisionField(
        "loan_id", {"type": "string"}, "the application's `id` (also the Kafka key)"
    ),
    DecisionField(
        "risk_score", {"type": "integer", "minimum": 0, "maximum": MAX_SCORE},
        f"the points of the rules that hold, summed and clamped to 0..{MAX_SCORE}",
    ),  # fmt: skip
    DecisionField(
        "risk_band", {"type": "string"}, "the band of the score (the rule set's `bands`)"
    ),
    DecisionField(
        "decision", {"type": "string", "enum": list(DECISIONS)},
        "by the score and the rule set's `review_at` and `decline_at`",
    ),  # fmt: skip
    DecisionField(
        "reasons", {"type": "array", "items": {"type": "string"}},
        "the codes of the rules that hold, most points first (file order among equals)",
    ),  # fmt: skip
    DecisionField(
        "rules_version", {"type": "string"}, "the `version` of the rule set that scored it"
    ),
    DecisionField(
        "event_time", {"type": "string", "format": "date-time"},
        "the application event's `event_time` (UTC, ISO 8601)",
    ),  # fmt: skip
)

FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)


def json_schema() -> dict[str, Any]:
    """The whole decision event: every field, required, and no other."""
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": NAME,
        "description": (
            f"The risk decision on one loan application ({NAME} v{VERSION}); the Kafka key is "
            f"the loan id ('{KEY_FIELD}')."
        ),
        "type": "object",
        "properties": {f.name: {**f.schema, "description": f.description} for f in FIELDS},
        "required": list(FIELD_NAMES),
        "additionalProperties": False,
    }


def schema_text() -> str:
    """The schema as canonical JSON text (what the sink registers for the scored topic)."""
    return json.dumps(json_schema(), sort_keys=True, separators=(",", ":"))
