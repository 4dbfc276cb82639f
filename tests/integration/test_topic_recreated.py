"""A topic deleted and created again under the same name, on the real Kafka and Postgres: the
sink refuses it (its events would be taken for ones already scored), instead of skipping them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from loanstream.config import Settings
from loanstream.kafka import clients as kafka_clients
from loanstream.kafka.topics import TopicError, ensure_topic, topic_id
from loanstream.produce.producer import EventProducer
from loanstream.sink import ScoringSink
from loanstream.sink.topic_identity import TopicRecreatedError
from tests.helpers import query, temp_schema, temp_topic, unique_name, write_loans_csv
from tests.resources import delete_topics

pytestmark = pytest.mark.integration


def _id_of(settings: Settings, topic: str) -> str | None:
    with kafka_clients.admin_client(settings.kafka_config()) as admin:
        return topic_id(admin, topic)


def _recreate(settings: Settings, topic: str, old_id: str) -> str:
    """Delete ``topic`` and create it again (Kafka deletes asynchronously: retried)."""
    assert delete_topics(settings.kafka_config(), [topic]) == []
    deadline = time.monotonic() + 60
    while True:
        try:
            ensure_topic(settings.kafka_config(), topic, partitions=1, use_rpk=False)
            new_id = _id_of(settings, topic)
            if new_id not in (None, old_id):
                return new_id
        except TopicError:
            pass
        assert time.monotonic() < deadline, f"{topic} was not created again within 60 s"
        time.sleep(0.5)


def _sink(settings: Settings, dsn: str, topic: str, group: str) -> ScoringSink:
    return ScoringSink(settings.kafka_config(), dsn, topic, group=group, batch_size=50)


def test_a_recreated_topic_is_refused_not_skipped(
    live_settings: Settings, shared_csv: Path, tmp_path: Path
) -> None:
    old_csv, new_csv = tmp_path / "old.csv", tmp_path / "new.csv"
    write_loans_csv(old_csv, shared_csv, 30, id_prefix="1")
    write_loans_csv(new_csv, shared_csv, 30, id_prefix="2")  # as many events: same offsets
    with temp_topic(live_settings, partitions=1) as topic, temp_schema(live_settings) as dsn:
        group = unique_name("g")
        producer = EventProducer(live_settings.kafka_config(), topic)
        assert producer.produce_csv(old_csv, run_id="old").delivered == 30
        assert _sink(live_settings, dsn, topic, group).run().scored == 30
        old_id = _id_of(live_settings, topic)
        assert old_id and query(dsn, "SELECT topic_id FROM consumer_offsets") == [(old_id,)]

        new_id = _recreate(live_settings, topic, old_id)
        producer = EventProducer(live_settings.kafka_config(), topic)
        assert producer.produce_csv(new_csv, run_id="new").delivered == 30
        for consumer_group in (group, unique_name("another")):
            with pytest.raises(TopicRecreatedError) as caught:
                _sink(live_settings, dsn, topic, consumer_group).run()
            assert old_id in str(caught.value) and new_id in str(caught.value)
        # nothing of the new topic stored, nothing registered, the old offsets as they were
        assert query(dsn, "SELECT count(*) FROM risk_scored WHERE run_id = 'new'") == [(0,)]
        assert query(dsn, "SELECT consumer_group, next_offset, topic_id FROM consumer_offsets") == [
            (group, 30, old_id)
        ]


def test_offsets_stored_before_topic_ids_were_kept_take_the_topics_id(
    live_settings: Settings, shared_csv: Path, tmp_path: Path
) -> None:
    csv = tmp_path / "loans.csv"
    write_loans_csv(csv, shared_csv, 40)
    with temp_topic(live_settings, partitions=1) as topic, temp_schema(live_settings) as dsn:
        group = unique_name("g")
        EventProducer(live_settings.kafka_config(), topic).produce_csv(csv, run_id="r")
        assert _sink(live_settings, dsn, topic, group).run(max_events=25).scored == 25
        query(dsn, "UPDATE consumer_offsets SET topic_id = NULL RETURNING 1")  # as before 0004
        assert _sink(live_settings, dsn, topic, group).run().scored == 15
        assert query(dsn, "SELECT next_offset, topic_id FROM consumer_offsets") == [
            (40, _id_of(live_settings, topic))
        ]
