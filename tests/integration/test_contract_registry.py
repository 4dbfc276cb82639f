"""The contract in the real schema registry: read back with confluent-kafka's stock JSON
deserializer (the writer's schema taken from the registry by the id in each message), evolved,
refused, unreachable, restarted, and what the producer does in each case."""

from __future__ import annotations

import contextlib
import copy
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.json_schema import JSONDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from loanstream.contract.convert import Layout
from loanstream.contract.fields import OUTCOME_COLUMNS
from loanstream.contract.schema import json_schema, schema_text
from loanstream.kafka.registry import RegistryError, ValueSchemas, frame
from loanstream.produce.producer import EventProducer, ProduceError
from tests.helpers import (
    query,
    read_events,
    read_topic,
    restart_registry,
    temp_schema,
    temp_topic,
)
from tests.resources import unique_name
from tests.unit.test_contract import rows

pytestmark = pytest.mark.integration

EVENT_TIME = "2026-12-05T10:00:00.000001+00:00"


@pytest.fixture
def topic(schema_registry_url: str) -> Iterator[str]:
    name = unique_name("contract_registry")
    yield name
    client = SchemaRegistryClient({"url": schema_registry_url})
    with contextlib.suppress(SchemaRegistryError):
        client.delete_subject(f"{name}-value")
        client.delete_subject(f"{name}-value", permanent=True)


def test_every_typed_row_reads_back_with_the_stock_deserializer(
    schema_registry_url: str, topic: str, shared_csv: Path
) -> None:
    schemas = ValueSchemas(schema_registry_url)
    registered = schemas.register(topic, schema_text())
    assert registered.subject == f"{topic}-value"
    assert schemas.register(topic, schema_text()).schema_id == registered.schema_id  # same text
    assert schemas.client.get_compatibility(registered.subject) == "BACKWARD"

    client = SchemaRegistryClient({"url": schema_registry_url})  # a reader's own, fresh client
    reader = JSONDeserializer(None, schema_registry_client=client)
    context = SerializationContext(topic, MessageField.VALUE)
    header, data = rows(shared_csv)
    layout = Layout.of(header)
    for values in data:
        event = {**layout.typed(values, 2026), "event_time": EVENT_TIME}
        read = reader(frame(registered.schema_id, orjson.dumps(event)), context)
        assert read == event, values[0]
        assert isinstance(read["loan_amnt"], float) and isinstance(read["term"], int)
        assert not OUTCOME_COLUMNS & set(read)
    assert len(data) == 2000


def test_an_added_optional_field_is_accepted_and_old_events_still_read(
    schema_registry_url: str, topic: str
) -> None:
    schemas = ValueSchemas(schema_registry_url)
    v1 = schemas.register(topic, schema_text())
    v2_schema = copy.deepcopy(json_schema())
    v2_schema["properties"]["channel"] = {"type": ["string", "null"]}
    v2 = schemas.register(topic, json.dumps(v2_schema, sort_keys=True))
    assert v2.schema_id != v1.schema_id

    old_event = {**Layout.of(["id", "loan_amnt", "term"]).typed(["7", "1000", "36"], 2026),
                 "event_time": EVENT_TIME}  # fmt: skip
    client = SchemaRegistryClient({"url": schema_registry_url})
    context = SerializationContext(topic, MessageField.VALUE)
    # an old reader (the writer's schema, v1) and a new one (v2, as reader schema) both read it
    assert JSONDeserializer(None, schema_registry_client=client)(
        frame(v1.schema_id, orjson.dumps(old_event)), context
    ) == old_event
    new_reader = JSONDeserializer(json.dumps(v2_schema), schema_registry_client=client)
    assert new_reader(frame(v1.schema_id, orjson.dumps(old_event)), context) == old_event


def test_a_removed_required_field_is_refused_naming_it(
    schema_registry_url: str, topic: str
) -> None:
    schemas = ValueSchemas(schema_registry_url)
    schemas.register(topic, schema_text())
    narrowed = copy.deepcopy(json_schema())
    del narrowed["properties"]["annual_inc"]
    narrowed["required"].remove("annual_inc")
    with pytest.raises(RegistryError) as refused:
        schemas.register(topic, json.dumps(narrowed, sort_keys=True))
    message = str(refused.value)
    assert "field 'annual_inc' removed" in message and f"{topic}-value" in message, message
    assert schema_registry_url in message
    assert schemas.client.get_versions(f"{topic}-value") == [1]  # nothing registered


def test_an_unreachable_registry_is_a_clear_error_within_ten_seconds() -> None:
    address = "http://127.0.0.1:9/apis/ccompat/v7"  # the discard port: nothing listens
    started = time.monotonic()
    with pytest.raises(RegistryError) as unreachable:
        ValueSchemas(address).register("never_created", schema_text())
    assert time.monotonic() - started < 10
    assert address in str(unreachable.value) and "cannot reach" in str(unreachable.value)


def test_the_producer_stops_before_producing_when_the_registry_refuses_its_contract(
    live_settings, shared_csv: Path
) -> None:
    """A later schema with a required field the contract lacks: the producer's contract would
    drop it, the registry refuses, the error names the field, and nothing is produced."""
    wider = copy.deepcopy(json_schema())
    wider["properties"]["channel"] = {"type": "string"}
    wider["required"].append("channel")
    with temp_topic(live_settings, partitions=1) as topic:
        ValueSchemas(live_settings.schema_registry_url).register(
            topic, json.dumps(wider, sort_keys=True)
        )
        with pytest.raises(ProduceError) as refused:
            EventProducer(live_settings.kafka_config(), topic).produce_csv(shared_csv)
        assert read_topic(live_settings, topic) == []
    message = str(refused.value)
    assert "field 'channel' removed" in message and "Nothing was produced" in message, message
    assert refused.value.stats is not None and refused.value.stats.sent == 0


def test_the_producer_fails_within_ten_seconds_when_the_registry_is_unreachable(
    live_settings, shared_csv: Path
) -> None:
    address = "http://127.0.0.1:9/apis/ccompat/v7"
    with temp_topic(live_settings, partitions=1) as topic:
        started = time.monotonic()
        with pytest.raises(ProduceError) as unreachable:
            EventProducer(
                live_settings.kafka_config(), topic, schema_registry_url=address
            ).produce_csv(shared_csv)
        assert time.monotonic() - started < 10
        assert read_topic(live_settings, topic) == []
    assert address in str(unreachable.value) and "Nothing was produced" in str(unreachable.value)


def test_a_registry_restart_in_the_middle_of_a_run_does_not_stop_it(
    live_settings, shared_csv: Path
) -> None:
    """A paced run with its sink beside it: the producer needs the registry once, before its
    first event, and the sink once per schema id; both go on while the registry restarts, and
    every event is scored, and reads back once the registry is up again."""
    from loanstream.sink import ScoringSink
    from loanstream.store.connect import pg_connect
    from loanstream.store.ledger import RunLedger
    from tests.integration.test_streaming_sink import sink_in_thread

    run_id = unique_name("run")
    outcome: dict[str, object] = {}
    with temp_topic(live_settings, partitions=1) as topic, temp_schema(live_settings) as dsn:

        def ledger() -> RunLedger:
            return RunLedger(lambda: pg_connect(dsn), run_id, topic)

        sink = ScoringSink(live_settings.kafka_config(), dsn, topic, group=unique_name("g"))
        sink_thread, sunk = sink_in_thread(sink, ledger=ledger())
        producer = EventProducer(live_settings.kafka_config(), topic)

        def produce() -> None:
            try:
                outcome["stats"] = producer.produce_csv(
                    shared_csv, rate=80, max_events=2000, run_id=run_id, ledger=ledger()
                )
                outcome["ended"] = time.monotonic()
            except BaseException as exc:  # reported by the assertion below
                outcome["error"] = exc

        thread = threading.Thread(target=produce)
        thread.start()
        time.sleep(2)
        restart_began = time.monotonic()
        restart_registry()  # stops it at once, then starts it and waits until it is healthy
        thread.join(90)
        # the run was still sending while the registry was down (its stop takes well under 3 s)
        assert outcome.get("ended", 0) > restart_began + 3, "the run ended before the restart"
        sink_thread.join(60)
        assert "error" not in outcome and "error" not in sunk, (outcome, sunk)
        events = read_events(live_settings, topic)
        ((scored,),) = query(dsn, "SELECT count(*) FROM risk_scored")
    stats = outcome["stats"]
    assert stats.delivered == len(events) == 2000 and stats.failed == 0
    assert sunk["stats"].consumed == scored == 2000 and sunk["stats"].dead_lettered == 0
