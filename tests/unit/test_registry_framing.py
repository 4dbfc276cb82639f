"""The standard framing of a registered value and the field-level reasons of a refused schema
change (no registry needed)."""

from __future__ import annotations

import copy
import json

import pytest

from loanstream.contract.schema import json_schema
from loanstream.kafka.registry import (
    MAGIC,
    frame,
    incompatible_changes,
    subject_for,
    unframe,
)

pytestmark = pytest.mark.unit


def test_frame_is_the_confluent_wire_format_and_unframe_reverses_it() -> None:
    framed = frame(258, b'{"id":"1"}')
    assert framed[:5] == bytes([MAGIC, 0, 0, 1, 2]) and framed[5:] == b'{"id":"1"}'
    assert unframe(framed) == (258, b'{"id":"1"}')


def test_an_unframed_json_event_is_left_as_it_is() -> None:
    assert unframe(b'{"id":"1"}') == (None, b'{"id":"1"}')
    assert unframe(b"\x00\x00") == (None, b"\x00\x00")  # too short to hold an id


def test_the_subject_follows_the_topic_name_strategy() -> None:
    assert subject_for("loan_applications") == "loan_applications-value"


def test_an_added_optional_field_is_no_incompatible_change() -> None:
    old = json_schema()
    new = copy.deepcopy(old)
    new["properties"]["channel"] = {"type": ["string", "null"]}
    assert incompatible_changes(old, new) == []


def test_a_removed_or_retyped_field_is_named() -> None:
    old = json_schema()
    new = copy.deepcopy(old)
    del new["properties"]["annual_inc"]
    new["required"].remove("annual_inc")
    new["properties"]["term"] = {"type": "string"}
    new["properties"]["channel"] = {"type": "string"}
    new["required"].append("channel")
    assert incompatible_changes(old, new) == [
        "field 'annual_inc' removed",
        "field 'channel' now required (events without it exist)",
        "field 'term' type ['integer'] -> ['string']",
    ]
    assert json.dumps(old)  # the contract's schema is plain JSON
