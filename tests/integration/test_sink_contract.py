"""The sink reads the contract, on the real Kafka, Postgres and schema registry.

Both samples go to one topic twice: as the untyped events the producer writes today (each CSV
row as text, unframed) and as typed ``loan_application`` events framed with the id the
registry gave the contract. The sink scores both, natively and in Python (republishing), into
the same decisions; a stock ``JSONDeserializer`` reads every republished ``risk_decision``
event with the writer's schema from the registry; a framed event whose id is not the
contract's is dead-lettered naming the id, and stays so when redriven, while a framed event
dead-lettered before the sink read framing ("not JSON") is scored by the redrive.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.json_schema import JSONDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from loanstream.config import Settings
from loanstream.contract import decision
from loanstream.contract.schema import schema_text
from loanstream.kafka.registry import ValueSchemas, frame, subject_for, unframe
from loanstream.produce.events import finish_event, iter_event_batches
from loanstream.sink import ScoringSink, SinkError
from loanstream.sink.redrive import Selection, redrive
from tests.helpers import REPO, query, read_topic, temp_schema, temp_topic, unique_name

pytestmark = pytest.mark.integration

SHIPPED = REPO / "include" / "data" / "loan_applications_sample.csv"
STAMP = "2026-12-05T10:00:00.000001+00:00"
# every column of a decision but the run id and the source position
SAME = (
    "loan_id, loan_amnt, term_months, int_rate, annual_inc, dti, revol_util, emp_length_years, "
    "credit_history_months, fico, inq_last_6mths, delinq_2yrs, pub_rec, home_ownership, "
    "purpose, features_as_of, features_as_of_basis, risk_score, risk_band, decision, reasons, "
    "rules_version, event_time"
)


@contextlib.contextmanager
def subjects(url: str, *topics: str) -> Iterator[None]:
    """Delete the topics' value subjects afterwards (soft, then permanently)."""
    try:
        yield
    finally:
        client = SchemaRegistryClient({"url": url})
        for topic in topics:
            with contextlib.suppress(SchemaRegistryError):
                client.delete_subject(subject_for(topic))
                client.delete_subject(subject_for(topic), permanent=True)


def sink(settings: Settings, dsn: str, topic: str, **kwargs) -> ScoringSink:
    return ScoringSink(settings.kafka_config(), dsn, topic, group=unique_name("g"), **kwargs)


def produce_both(settings: Settings, topic: str, path: Path, contract_id: int) -> int:
    """Every event of ``path`` untyped (run ``untyped``) and typed and framed (run ``typed``)."""
    producer = Producer(settings.kafka_config(**{"linger.ms": 20}))
    sent = Counter()
    for run, typed in (("untyped", False), ("typed", True)):
        for batch in iter_event_batches(path, typed=typed):
            for key, body in zip(batch.keys, batch.bodies, strict=True):
                value = finish_event(body, STAMP)
                while True:
                    try:
                        producer.produce(
                            topic, key=key.encode(),
                            value=frame(contract_id, value) if typed else value,
                            headers=[("run_id", run.encode())],
                        )  # fmt: skip
                        break
                    except BufferError:
                        producer.poll(0.1)
                sent[run] += 1
    assert producer.flush(60) == 0
    assert sent["typed"] == sent["untyped"]
    return sent["typed"]


def typed_events(path: Path, n: int) -> list[tuple[str, bytes]]:
    """(key, typed event) of the first ``n`` rows of ``path``, unframed."""
    return [
        (key, finish_event(body, STAMP))
        for batch in iter_event_batches(path, typed=True, max_events=n)
        for key, body in zip(batch.keys, batch.bodies, strict=True)
    ]


def decisions(dsn: str, run: str) -> list[tuple]:
    return sorted(
        query(dsn, f"SELECT {SAME} FROM risk_decisions WHERE run_id = %s", (run,)),  # noqa: S608
        key=repr,
    )


def dead_keys(dsn: str, run: str) -> list[str]:
    return sorted(
        k for (k,) in query(dsn, "SELECT key FROM dead_letters WHERE run_id = %s", (run,))
    )


@pytest.mark.parametrize("sample", ["shipped", "real"])
def test_framed_typed_events_score_as_their_text_and_republish_as_risk_decisions(
    live_settings: Settings, schema_registry_url: str, shared_csv: Path, sample: str
) -> None:
    path = SHIPPED if sample == "shipped" else shared_csv
    with (
        temp_topic(live_settings) as topic,
        temp_topic(live_settings, prefix="scored") as scored,
        subjects(schema_registry_url, topic, scored),
        temp_schema(live_settings) as native_dsn,
        temp_schema(live_settings) as python_dsn,
    ):
        contract_id = ValueSchemas(schema_registry_url).register(topic, schema_text()).schema_id
        events = produce_both(live_settings, topic, path, contract_id)
        natively = sink(live_settings, native_dsn, topic, native="on", batch_size=2000).run()
        in_python = sink(live_settings, python_dsn, topic, republish_topic=scored).run()
        out = read_topic(live_settings, scored)

        for stats in (natively, in_python):
            assert stats.consumed == 2 * events and stats.stopped_by == "caught-up"
        # natively: framed events in Python only until their id was accepted (the first batch)
        assert natively.scored_natively >= natively.scored - 2000
        assert in_python.scored_natively == 0
        for dsn in (native_dsn, python_dsn):
            typed, untyped = decisions(dsn, "typed"), decisions(dsn, "untyped")
            assert typed == untyped and len(typed) == natively.scored // 2
            assert dead_keys(dsn, "typed") == dead_keys(dsn, "untyped")
        assert decisions(native_dsn, "typed") == decisions(python_dsn, "typed")

        # every republished event, read by a stock deserializer with the writer's schema
        decision_id = (
            ValueSchemas(schema_registry_url)
            .client.get_latest_version(subject_for(scored))
            .schema_id
        )
        client = SchemaRegistryClient({"url": schema_registry_url})  # a reader's own client
        reader = JSONDeserializer(None, schema_registry_client=client)
        context = SerializationContext(scored, MessageField.VALUE)
        assert len(out) == in_python.republished == in_python.scored
        read = []
        for msg in out:
            assert unframe(msg.value())[0] == decision_id
            event = reader(msg.value(), context)
            assert tuple(event) == decision.FIELD_NAMES and msg.key().decode() == event["loan_id"]
            read.append((event["loan_id"], event["risk_score"], event["decision"]))
        assert json.loads(client.get_schema(decision_id).schema_str) == decision.json_schema()
        stored = query(python_dsn, "SELECT loan_id, risk_score, decision FROM risk_decisions")
        assert sorted(read) == sorted(stored)


def test_foreign_and_unknown_schema_ids_are_dead_lettered_and_stay_so_when_redriven(
    live_settings: Settings, schema_registry_url: str, shared_csv: Path
) -> None:
    bodies = typed_events(shared_csv, 6)
    with (
        temp_topic(live_settings, partitions=1) as topic,
        temp_topic(live_settings, prefix="scored") as scored,
        subjects(schema_registry_url, topic, scored),
        temp_schema(live_settings) as dsn,
    ):
        schemas = ValueSchemas(schema_registry_url)
        contract_id = schemas.register(topic, schema_text()).schema_id
        foreign_id = schemas.register(scored, decision.schema_text()).schema_id
        unknown_id = 2**31 - 7  # no registry here hands out ids this high
        assert schemas.lookup(unknown_id) is None
        values = [
            frame(contract_id, bodies[0][1]),
            frame(foreign_id, bodies[1][1]),
            frame(unknown_id, bodies[2][1]),
            bodies[3][1],  # unframed
            frame(contract_id, bodies[4][1]),
        ]
        producer = Producer(live_settings.kafka_config())
        for (key, _), value in zip(bodies, values, strict=False):
            producer.produce(topic, key=key.encode(), value=value, headers=[("run_id", b"r")])
        producer.flush(10)
        stats = sink(live_settings, dsn, topic, native="on").run()
        assert (stats.scored, stats.dead_lettered) == (3, 2)
        dead = dict(query(dsn, 'SELECT "offset", error FROM dead_letters ORDER BY "offset"'))
        assert dead == {
            1: f"foreign schema id: {foreign_id} is 'risk_decision' (JSON schema), not a "
            "version of loan_application",
            2: f"unknown schema id: {unknown_id} is not in the schema registry at "
            f"{schema_registry_url}",
        }
        raw = [
            bytes(r) for (r,) in query(dsn, 'SELECT raw_value FROM dead_letters ORDER BY "offset"')
        ]
        assert raw == values[1:3]  # stored whole, header included

        # a framed event dead-lettered by a sink that did not read framing, as such a sink did
        conn = psycopg2.connect(dsn)
        with conn, conn.cursor() as cur:
            cur.execute(
                'INSERT INTO dead_letters (topic, partition, "offset", key, raw_value, error, '
                "run_id) VALUES (%s, 0, 99, %s, %s, 'not JSON: unexpected character', 'r')",
                (topic, bodies[5][0], psycopg2.Binary(frame(contract_id, bodies[5][1]))),
            )
        conn.close()
        result = redrive(lambda: psycopg2.connect(dsn), Selection.of(run_id="r"))
        assert (result.selected, result.resolved, result.still_failing) == (3, 1, 2)
        assert result.errors == Counter({"foreign schema id": 1, "unknown schema id": 1})
        assert query(
            dsn, "SELECT count(*) FROM risk_scored WHERE loan_id = %s", (bodies[5][0],)
        ) == [(1,)]
        assert (
            dict(query(dsn, 'SELECT "offset", error FROM dead_letters WHERE resolved_at IS NULL'))
            == dead
        )


def test_an_unreachable_registry_fails_the_run_and_loses_nothing(
    live_settings: Settings, schema_registry_url: str, shared_csv: Path
) -> None:
    bodies = typed_events(shared_csv, 6)
    away = "http://127.0.0.1:9/apis/ccompat/v7"  # the discard port: nothing listens
    with (
        temp_topic(live_settings, partitions=1) as topic,
        subjects(schema_registry_url, topic),
        temp_schema(live_settings) as dsn,
    ):
        contract_id = ValueSchemas(schema_registry_url).register(topic, schema_text()).schema_id
        producer = Producer(live_settings.kafka_config())
        for i, (key, body) in enumerate(bodies):  # 3 unframed, then 3 framed
            value = frame(contract_id, body) if i >= 3 else body
            producer.produce(topic, key=key.encode(), value=value, headers=[("run_id", b"r")])
        producer.flush(10)
        group = unique_name("g")
        kafka = live_settings.kafka_config()
        with pytest.raises(SinkError) as failed:
            ScoringSink(kafka, dsn, topic, group=group, schema_registry_url=away).run()
        assert away in str(failed.value) and f"schema id {contract_id}" in str(failed.value)
        assert query(dsn, "SELECT count(*) FROM dead_letters") == [(0,)]
        (stored,) = query(dsn, "SELECT count(*) FROM risk_scored")[0]
        assert stored < 6  # no framed event was stored (unframed ones before them may be)
        again = ScoringSink(kafka, dsn, topic, group=group).run()
        assert again.scored == 6 - stored and again.dead_lettered == 0
        assert query(dsn, "SELECT count(*), count(DISTINCT src_offset) FROM risk_decisions") == [
            (6, 6)
        ]
