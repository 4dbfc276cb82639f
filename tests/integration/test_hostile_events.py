"""Poison and hostile events on the real Kafka and Postgres: dead-lettered with a reason (or
scored when actually valid), stored as data and never executed as SQL, and never a crash.

Each case is one message produced raw (any bytes, any key, any headers); one sink run consumes
them all, then every case is checked by its key.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer

from loanstream.produce.events import finish_event, iter_event_batches
from loanstream.sink import ScoringSink
from tests.helpers import query, temp_schema, temp_topic, unique_name

pytestmark = pytest.mark.integration

DEEP = 10_000


def _valid_event(shared_csv: Path) -> dict:
    batch = next(iter_event_batches(shared_csv, chunk_rows=1, max_events=1))
    return orjson.loads(finish_event(batch.bodies[0], "2026-01-01T00:00:00+00:00"))


def _cases(valid: dict) -> list[tuple[str, bytes, list, str]]:
    """(key, value, headers, expectation): expectation is "scored" or a dead-letter reason part."""

    def ev(**changes) -> bytes:
        return orjson.dumps({**valid, **changes})

    no_id = {k: v for k, v in valid.items() if k != "id"}
    sql = "x'); DROP TABLE risk_scored; --"
    return [
        # -- not JSON / not an object
        ("not-json", b"{this is not json", [], "not JSON"),
        ("empty", b"", [], "empty value"),
        ("json-array", b"[1, 2, 3]", [], "not a JSON object"),
        ("json-string", b'"just a string"', [], "not a JSON object"),
        ("json-null", b"null", [], "not a JSON object"),
        ("nan-literal", b'{"id": NaN}', [], "not JSON"),
        ("huge-number", b'{"id": "h", "loan_amnt": 1e400}', [], "not JSON"),
        ("invalid-utf8", b'{"id": "\xff\xfe\xfd"}', [], "not JSON"),
        ("lone-surrogate", ev(id="s").replace(b'"id":"s"', b'"id":"\\ud800"'), [], "not JSON"),
        ("deep-array", b"[" * DEEP + b"]" * DEEP, [], "not JSON"),
        ("deep-object", b'{"a":' * DEEP + b"1" + b"}" * DEEP, [], "not JSON"),
        (
            "deep-in-valid-event",
            ev(id="deep-field")[:-1] + b',"desc":' + b"[" * DEEP + b"]" * DEEP + b"}",
            [],
            "depth",
        ),
        # -- wrong types, missing fields
        ("missing-id", orjson.dumps(no_id), [], "id"),
        ("id-object", ev(id={"a": 1}), [], "id"),
        ("id-float", ev(id=1.5), [], "id"),
        ("id-bool", ev(id=True), [], "id"),
        ("amount-list", ev(id="t-list", loan_amnt=["a", "list"]), [], "loan_amnt"),
        ("amount-bool", ev(id="t-bool", loan_amnt=True), [], "loan_amnt"),
        ("amount-negative", ev(id="t-neg", loan_amnt="-5"), [], "loan_amnt"),
        ("term-object", ev(id="t-term", term={"months": 36}), [], "term"),
        # -- size
        ("id-1mb", ev(id="x" * 900_000), [], "id"),
        # -- unicode edge cases that are not valid ids / categories
        ("id-nul", ev(id="a\x00b"), [], "id"),
        ("purpose-nul", ev(id="p-nul", purpose="car\x00; DROP TABLE x"), [], "purpose"),
        ("id-rtl-override", ev(id="\u202eevil-gpj.exe"), [], "id"),
        # -- hostile key/headers on a poison message: the dead letter must still be written
        ("key-nul\x00\xff", b"{nope", [("run_id", b"r\x00n")], "not JSON"),
        # -- valid events with hostile text: scored, stored verbatim as data
        ("sql-id", ev(id=sql), [], "scored"),
        (
            "sql-purpose",
            ev(id="sql-purpose", purpose="'; DELETE FROM dead_letters; --"),
            [],
            "scored",
        ),  # fmt: skip
        ("copy-marker", ev(id="\\."), [], "scored"),
        ("csv-quotes", ev(id='a,"b",\\N'), [], "scored"),
        ("emoji", ev(id="loan-🚀-💸"), [], "scored"),
        ("rtl-arabic", ev(id="قرض-١٢٣"), [], "scored"),
        ("long-key", orjson.dumps({**valid, "k" * 100_000: "v", "id": "long-key"}), [], "scored"),
        ("desc-1mb", ev(id="desc-1mb", desc="d" * 900_000), [], "scored"),
        ("run-id-newline", ev(id="run-id-newline"), [("run_id", b"r1\n\\.\nDROP")], "scored"),
        ("run-id-nul", ev(id="run-id-nul"), [("run_id", b"bad\x00run")], "scored"),
    ]


def test_hostile_events_dead_lettered_or_scored_never_executed(
    live_settings, shared_csv: Path
) -> None:
    valid = _valid_event(shared_csv)
    cases = _cases(valid)
    with temp_topic(live_settings, partitions=1) as topic, temp_schema(live_settings) as dsn:
        producer = Producer(live_settings.kafka_config(**{"message.max.bytes": 2_000_000}))
        for key, value, headers, _ in cases:
            producer.produce(topic, key=key.encode("utf-8", "surrogateescape"), value=value,
                             headers=headers)  # fmt: skip
        assert producer.flush(30) == 0
        stats = ScoringSink(
            live_settings.kafka_config(), dsn, topic, group=unique_name("g"), batch_size=7
        ).run(idle_timeout=20)
        dead = {
            key: error
            for key, error in query(dsn, 'SELECT key, error FROM dead_letters ORDER BY "offset"')
        }
        scored = dict(query(dsn, "SELECT src_offset, loan_id FROM risk_scored"))
        runs = dict(query(dsn, "SELECT loan_id, run_id FROM risk_scored"))
        tables = query(
            dsn,
            "SELECT to_regclass('risk_scored') IS NOT NULL, to_regclass('dead_letters') "
            "IS NOT NULL, to_regclass('consumer_offsets') IS NOT NULL",
        )[0]
        (raw_big,) = query(dsn, "SELECT octet_length(raw_value) FROM dead_letters WHERE key = 'id-1mb'")[0]  # fmt: skip
    assert tables == (True, True, True), "tables intact"
    assert stats.consumed == len(cases) and stats.stopped_by == "caught-up"
    expected_scored = [c for c in cases if c[3] == "scored"]
    assert stats.scored == len(scored) == len(expected_scored), sorted(dead)
    assert stats.dead_lettered == len(dead) == len(cases) - len(expected_scored)
    scored_ids = set(scored.values())
    for key, value, _headers, expectation in cases:
        shown = (
            key.replace("\x00", "\ufffd")
            .encode("utf-8", "surrogateescape")
            .decode("utf-8", "replace")
        )
        if expectation == "scored":
            event_id = orjson.loads(value)["id"]
            assert event_id in scored_ids, f"{key!r} should be scored as {event_id!r}"
        else:
            assert shown in dead, f"{key!r} should be dead-lettered"
            assert expectation in dead[shown], (key, dead[shown])
    # stored verbatim, never executed
    assert "x'); DROP TABLE risk_scored; --" in scored_ids
    assert {"\\.", 'a,"b",\\N', "loan-🚀-💸", "قرض-١٢٣"} <= scored_ids
    assert runs["run-id-newline"] == "r1\n\\.\nDROP"
    assert runs["run-id-nul"] == "bad\ufffdrun"  # NUL cannot be stored in text: replaced
    assert raw_big > 900_000  # the dead letter keeps the whole raw value
