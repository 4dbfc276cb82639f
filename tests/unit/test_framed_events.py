"""Framed events (Confluent's wire format) in the sink: read after the header when the schema id
is a version of ``loan_application``, dead-lettered with the id named when it is not; the
same rows from Python and the native scorer, framed or unframed, typed or untyped; each id
resolved once; and the ``risk_decision`` payload the sink republishes held to its schema.

The registry is replaced by a table of ids here (``ContractSchemaIds``' ``lookup``); the real
one is in tests/integration/test_sink_contract.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Message
from jsonschema import Draft7Validator

from loanstream.contract import decision
from loanstream.contract.schema import schema_text
from loanstream.kafka.registry import WriterSchema, frame
from loanstream.scoring import load_rules
from loanstream.sink import SinkError, csv_lines, score_message
from loanstream.sink.rows import score_value
from loanstream.sink.schema_ids import ContractSchemaIds
from loanstream.sink.scorer import Batch, BatchScorer
from tests.unit.test_native_scorer import (
    SHIPPED,
    UTC_STAMPS,
    cells,
    message,
    native,
    sample_messages,
)

pytestmark = pytest.mark.unit

CONTRACT_ID, OLDER_CONTRACT_ID, DECISION_ID, AVRO_ID, UNKNOWN_ID = 42, 41, 7, 8, 99_999
REGISTRY = {
    CONTRACT_ID: WriterSchema(CONTRACT_ID, "JSON", schema_text()),
    OLDER_CONTRACT_ID: WriterSchema(OLDER_CONTRACT_ID, "JSON", schema_text()),
    DECISION_ID: WriterSchema(DECISION_ID, "JSON", decision.schema_text()),
    AVRO_ID: WriterSchema(AVRO_ID, "AVRO", '{"type":"record","name":"loan_application"}'),
}


def schema_ids() -> tuple[ContractSchemaIds, list[int]]:
    """A resolver over ``REGISTRY``, and the ids it was asked for, in order."""
    asked: list[int] = []

    def lookup(schema_id: int) -> WriterSchema | None:
        asked.append(schema_id)
        return REGISTRY.get(schema_id)

    return ContractSchemaIds("http://registry.test/apis/ccompat/v7", lookup), asked


def framed(messages: list[Message], schema_id: int) -> list[Message]:
    return [
        message(frame(schema_id, m.value()), offset=m.offset(), headers=m.headers())
        for m in messages
    ]


def python_rows(messages: list[Message], ids: ContractSchemaIds | None = None) -> list:
    rules = load_rules()
    return [score_message(m, rules, payload=False, schema_ids=ids) for m in messages]


@pytest.mark.parametrize("sample", ["real", "shipped"])
def test_framed_unframed_typed_untyped_make_the_same_rows_in_python_and_natively(
    sample: str, shared_csv: Path
) -> None:
    path = shared_csv if sample == "real" else SHIPPED
    untyped = sample_messages(path, UTC_STAMPS[0])[:5000]
    typed = sample_messages(path, UTC_STAMPS[0], typed=True)[:5000]
    framed_typed = framed(typed, CONTRACT_ID)
    ids, asked = schema_ids()

    in_python = python_rows(framed_typed, ids)
    assert in_python == python_rows(typed)  # the JSON after the header, exactly
    assert [r[0] for r in in_python] == [r[0] for r in python_rows(untyped)]  # typed = text
    assert asked == [CONTRACT_ID]  # one lookup for 5000 events

    scorer = native(load_rules())
    before = scorer.accepted_schema_ids()
    data, declined, _ = scorer.score(framed_typed)
    if CONTRACT_ID not in before:
        assert data == b"" and declined == list(range(len(framed_typed)))  # Python decides
    scorer.accept_schema_ids(ids.accepted())
    data, declined, counts = scorer.score(framed_typed)
    assert declined == [] and sum(counts) == len(framed_typed)
    assert data == scorer.score(typed)[0] == scorer.score(untyped)[0]  # byte for byte
    lines = data.decode().splitlines(keepends=True)
    for line, (row, _) in zip(lines, in_python, strict=True):
        assert cells(line) == cells(csv_lines([row])), line


def test_ids_not_of_the_contract_are_declined_natively_and_dead_lettered_naming_the_id(
    shared_csv: Path,
) -> None:
    (event,) = sample_messages(shared_csv, UTC_STAMPS[0], typed=True)[:1]
    body = event.value()
    values = {
        "contract": frame(CONTRACT_ID, body),
        "decision": frame(DECISION_ID, body),
        "avro": frame(AVRO_ID, body),
        "unknown": frame(UNKNOWN_ID, body),
        "short": b"\x00\x00\x00\x00\x2a",  # no room for an event: Python reads it as text
        "unframed": body,
    }
    messages = [message(v, offset=i) for i, v in enumerate(values.values())]
    ids, asked = schema_ids()
    results = dict(zip(values, python_rows(messages, ids), strict=True))
    assert not isinstance(results["contract"], str) and not isinstance(results["unframed"], str)
    assert results["contract"][0][:-1] == results["unframed"][0][:-1]  # all but the offset
    assert results["decision"] == (
        f"foreign schema id: {DECISION_ID} is 'risk_decision' (JSON schema), "
        "not a version of loan_application"
    )
    assert results["avro"] == (
        f"foreign schema id: {AVRO_ID} is untitled (AVRO schema), not a version of "
        "loan_application"
    )
    assert results["unknown"] == (
        f"unknown schema id: {UNKNOWN_ID} is not in the schema registry at {ids.url}"
    )
    assert str(results["short"]).startswith("not JSON")
    assert sorted(asked) == sorted([CONTRACT_ID, DECISION_ID, AVRO_ID, UNKNOWN_ID])
    assert ids.accepted() == [CONTRACT_ID]
    # no resolver, no framed event: a dead letter, never a guess
    assert score_message(messages[0], load_rules()) == (
        f"framed with schema id {CONTRACT_ID}: this reader resolves no schema ids"
    )

    scorer = native(load_rules())
    scorer.accept_schema_ids([CONTRACT_ID])
    _, declined, counts = scorer.score(messages)
    assert declined == [1, 2, 3, 4] and sum(counts) == 2  # the contract's and the unframed


def test_the_sink_resolves_each_id_once_and_hands_accepted_ids_to_the_native_scorer(
    shared_csv: Path,
) -> None:
    typed = sample_messages(shared_csv, UTC_STAMPS[0], typed=True)[:300]
    ids, asked = schema_ids()
    scorer = BatchScorer(load_rules(), "on", schema_ids=ids)

    def id_of(part: int, i: int) -> int:
        if i % 10 == 9:
            return UNKNOWN_ID
        return OLDER_CONTRACT_ID if part == 2 and i % 2 else CONTRACT_ID

    batches = []
    for part in range(3):
        batch = Batch()
        for i, msg in enumerate(typed[part * 100 : part * 100 + 100]):
            batch.add(message(frame(id_of(part, i), msg.value()), offset=part * 100 + i))
        scorer.score(batch)
        batches.append(batch)
    first, second, third = batches
    assert (first.native_rows, len(first.rows), len(first.dead)) == (0, 90, 10)
    assert (second.native_rows, len(second.rows), len(second.dead)) == (90, 0, 10)
    # a second version of the contract: in Python while its id is new
    assert (third.native_rows, len(third.rows), len(third.dead)) == (50, 40, 10)
    assert asked == [CONTRACT_ID, UNKNOWN_ID, OLDER_CONTRACT_ID]
    assert ids.accepted() == [OLDER_CONTRACT_ID, CONTRACT_ID]
    reasons = {dead[5] for b in batches for dead in b.dead}
    assert reasons == {f"unknown schema id: {UNKNOWN_ID} is not in the schema registry at {ids.url}"}
    assert first.dead[0][4].adapted == frame(UNKNOWN_ID, typed[9].value())  # stored whole


def test_an_unreachable_registry_fails_the_batch_naming_its_address(shared_csv: Path) -> None:
    address = "http://127.0.0.1:9/apis/ccompat/v7"  # the discard port: nothing listens
    (event,) = sample_messages(shared_csv, UTC_STAMPS[0], typed=True)[:1]
    ids = ContractSchemaIds(address)
    scorer = BatchScorer(load_rules(), "on", schema_ids=ids)
    batch = Batch()
    batch.add(message(event.value(), offset=0))  # unframed: no registry needed
    batch.add(message(frame(CONTRACT_ID, event.value()), offset=1))
    started = time.monotonic()
    with pytest.raises(SinkError) as failed:
        scorer.score(batch)
    assert time.monotonic() - started < 10
    text = str(failed.value)
    assert address in text and f"schema id {CONTRACT_ID}" in text and "nothing" in text, text
    assert batch.dead == [] and ids.accepted() == []  # no dead letter, nothing remembered
    with pytest.raises(SinkError):  # asked again next time, never cached as unknown
        ids.refusal(CONTRACT_ID)


def test_a_stored_framed_dead_letter_scores_as_its_event_when_redriven(shared_csv: Path) -> None:
    (event,) = sample_messages(shared_csv, UTC_STAMPS[0], typed=True)[:1]
    ids, _ = schema_ids()
    kwargs = {"topic": "t", "partition": 0, "offset": 5, "run_id": "r", "payload": False}
    raw = frame(CONTRACT_ID, event.value())
    row, _ = score_value(raw, load_rules(), schema_ids=ids, **kwargs)  # type: ignore[misc]
    assert (row, None) == score_value(event.value(), load_rules(), **kwargs)


@pytest.mark.parametrize("sample", ["real", "shipped"])
def test_every_republish_payload_is_a_risk_decision(sample: str, shared_csv: Path) -> None:
    schema = decision.json_schema()
    Draft7Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    assert schema["required"] == list(decision.FIELD_NAMES) == list(schema["properties"])
    validator = Draft7Validator(schema)
    rules = load_rules()
    messages = sample_messages(shared_csv if sample == "real" else SHIPPED, UTC_STAMPS[0])
    payloads = [
        result[1]
        for result in (score_message(m, rules) for m in messages[:5000])
        if not isinstance(result, str)
    ]
    assert len(payloads) > 1000
    for payload in payloads:
        validator.validate(orjson.loads(orjson.dumps(payload)))
        assert tuple(payload) == decision.FIELD_NAMES
    assert {p["decision"] for p in payloads} == {"approve", "review", "decline"}


def test_refused_ids_are_remembered_within_a_bound() -> None:
    """Poison events with made-up ids can neither grow the cache without bound nor keep an
    accepted id from being remembered."""
    from loanstream.sink.schema_ids import REFUSALS_KEPT

    ids, asked = schema_ids()
    assert ids.refusal(CONTRACT_ID) is None
    made_up = range(10**6, 10**6 + 3 * REFUSALS_KEPT)
    for schema_id in made_up:
        assert ids.refusal(schema_id) is not None
    assert len(ids._refusals) == REFUSALS_KEPT + 1  # the accepted id and the last refused
    assert ids.accepted() == [CONTRACT_ID]
    ids.refusal(made_up[-1])  # remembered: not asked again
    assert len(asked) == 1 + len(made_up)
