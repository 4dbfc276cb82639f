"""Every event the producer sends conforms to the schema the registry holds for it.

Both samples and both shapes of real LendingClub exports are produced to topics of their own
(the native encoder where it is built); every message is then checked the way a strict
downstream reader would: framed with the id the producer registered, and valid against that
id's schema as the registry returns it, by ``jsonschema`` (draft 7, formats checked). The
producer itself never validates per message: this test is what holds its encoder to the
contract.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import orjson
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from loanstream.config import Settings
from loanstream.contract import fields
from loanstream.kafka.registry import unframe
from loanstream.produce.producer import EventProducer
from tests.helpers import read_topic, temp_topic
from tests.lendingclub_exports import write_download, write_kaggle

pytestmark = pytest.mark.integration

SHIPPED = Path(__file__).resolve().parents[2] / "include" / "data" / "loan_applications_sample.csv"


def _shipped(source: Path, target: Path) -> int:
    return sum(1 for _ in SHIPPED.open()) - 1


def _real(source: Path, target: Path) -> int:
    target.write_bytes(source.read_bytes())  # a temporary copy, removed with tmp_path
    return 2000


SOURCES: dict[str, Callable[[Path, Path], int]] = {
    "shipped": _shipped,
    "real": _real,
    "download": lambda source, target: write_download(source, target).loans,
    "kaggle": lambda source, target: write_kaggle(source, target).loans,
}


@pytest.mark.parametrize("source", SOURCES)
def test_every_event_conforms_to_its_registered_schema(
    live_settings: Settings, shared_csv: Path, tmp_path: Path, source: str
) -> None:
    path = SHIPPED if source == "shipped" else tmp_path / f"{source}.csv"
    loans = SOURCES[source](shared_csv, path)
    with temp_topic(live_settings, partitions=2) as topic:
        stats = EventProducer(live_settings.kafka_config(), topic).produce_csv(path)
        messages = read_topic(live_settings, topic)
    assert stats.rejected == 0 and stats.delivered == len(messages) == loans
    registered = SchemaRegistryClient({"url": live_settings.schema_registry_url}).get_schema(
        stats.value_schema["id"]
    )
    schema = json.loads(registered.schema_str)
    assert schema["title"] == fields.NAME
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    failures: list[tuple[int, list[str]]] = []
    for msg in messages:
        schema_id, payload = unframe(msg.value())
        assert schema_id == stats.value_schema["id"]
        errors = [e.message for e in validator.iter_errors(orjson.loads(payload))]
        if errors:
            failures.append((msg.offset(), errors))
    assert failures == []
