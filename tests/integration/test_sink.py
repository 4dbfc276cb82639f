"""The exactly-once sink on the real Kafka and Postgres."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from loanstream.config import Settings
from loanstream.contract import decision
from loanstream.kafka.registry import unframe
from loanstream.produce.producer import EventProducer
from loanstream.sink import FencedError, ScoringSink
from tests.helpers import (
    kafka_tool,
    query,
    read_topic,
    temp_schema,
    temp_topic,
    tools_properties,
    unique_name,
    write_loans_csv,
)

pytestmark = pytest.mark.integration


def make_sink(settings: Settings, dsn: str, topic: str, **kwargs) -> ScoringSink:
    kwargs.setdefault("group", unique_name("g"))
    kwargs.setdefault("batch_size", 100)
    return ScoringSink(settings.kafka_config(), dsn, topic, **kwargs)


def produce(settings: Settings, topic: str, csv: Path, run_id: str = "r1") -> int:
    return EventProducer(settings.kafka_config(), topic).produce_csv(csv, run_id=run_id).delivered


def counts(dsn: str) -> tuple[int, int, int]:
    (row,) = query(
        dsn,
        "SELECT (SELECT count(*) FROM risk_scored), (SELECT count(DISTINCT loan_id) FROM "
        "risk_scored), (SELECT count(*) FROM dead_letters)",
    )
    return row


def test_scores_every_event_once_and_resumes_from_stored_offsets(
    live_settings: Settings, shared_csv: Path
) -> None:
    with temp_topic(live_settings) as topic, temp_schema(live_settings) as dsn:
        assert produce(live_settings, topic, shared_csv) == 2000
        group = unique_name("g")
        first = make_sink(live_settings, dsn, topic, group=group).run(max_events=700)
        assert first.consumed == 700 and first.stopped_by == "max-events"
        assert counts(dsn)[0] == 700
        second = make_sink(live_settings, dsn, topic, group=group).run()
        assert second.consumed == 1300 and second.stopped_by == "caught-up"
        assert counts(dsn) == (2000, 2000, 0)
        third = make_sink(live_settings, dsn, topic, group=group).run()
        assert third.consumed == 0 and third.stopped_by == "caught-up"
        offsets = dict(query(dsn, "SELECT partition, next_offset FROM consumer_offsets"))
        assert sum(offsets.values()) == 2000
        (row,) = query(
            dsn,
            "SELECT count(*) FILTER (WHERE run_id = 'r1'), min(risk_score), max(risk_score), "
            "count(*) FILTER (WHERE jsonb_typeof(reasons) = 'array') FROM risk_scored",
        )
        assert row[0] == 2000 and 0 <= row[1] <= row[2] <= 100 and row[3] == 2000


def test_crash_between_database_commit_and_kafka_commit_is_exactly_once(
    live_settings: Settings, shared_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Die right after the Postgres commit, before the advisory Kafka commit: no duplicates."""

    class Died(BaseException):
        pass

    with temp_topic(live_settings, partitions=1) as topic, temp_schema(live_settings) as dsn:
        produce(live_settings, topic, shared_csv)
        group = unique_name("g")
        sink = make_sink(live_settings, dsn, topic, group=group, batch_size=300)
        real_write = sink.writer.write
        calls = {"n": 0}

        def write_then_die(*args, **kwargs):
            inserted = real_write(*args, **kwargs)
            calls["n"] += 1
            if calls["n"] == 3:
                raise Died  # killed after the 3rd DB commit, before its Kafka commit
            return inserted

        monkeypatch.setattr(sink.writer, "write", write_then_die)
        with pytest.raises(Died):
            sink.run()
        stored = counts(dsn)[0]
        assert stored == 900
        # Kafka's committed offset lags Postgres (two advisory commits at most)
        consumer = Consumer(live_settings.kafka_config(**{"group.id": group}))
        (committed,) = consumer.committed([TopicPartition(topic, 0)], timeout=10)
        consumer.close()
        assert committed.offset < 900
        resumed = make_sink(live_settings, dsn, topic, group=group, batch_size=300).run()
        assert resumed.consumed == 1100
        assert counts(dsn) == (2000, 2000, 0)


def test_batches_commit_without_waiting_for_the_disk_and_the_run_ends_durable(
    live_settings: Settings, shared_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each batch commits with ``synchronous_commit`` off; before the run returns, one
    synchronous commit has flushed the WAL past every batch (what a crash of Postgres after
    the task ended would otherwise lose). Losing batches before that is the chaos tests'
    Postgres SIGKILL: rows and offsets go together and are re-read."""
    with temp_topic(live_settings) as topic, temp_schema(live_settings) as dsn:
        produce(live_settings, topic, shared_csv)
        sink = make_sink(live_settings, dsn, topic)
        seen: dict[str, object] = {}
        make_durable = sink.writer.make_durable

        def observed(conn, partitions):
            with conn.cursor() as cur:
                cur.execute("SHOW synchronous_commit")
                seen["batches_committed_with"] = cur.fetchone()[0]
                cur.execute("SELECT pg_current_wal_insert_lsn()")  # past every batch's commit
                (after_batches,) = cur.fetchone()
            conn.rollback()
            make_durable(conn, partitions)
            (seen["flushed_past_batches"],) = query(
                dsn, "SELECT pg_current_wal_flush_lsn() >= %s::pg_lsn", (after_batches,)
            )[0]

        monkeypatch.setattr(sink.writer, "make_durable", observed)
        stats = sink.run()
        assert stats.scored == 2000 and stats.batches >= 20  # batches of up to 100
        assert seen == {"batches_committed_with": "off", "flushed_past_batches": True}
        assert counts(dsn) == (2000, 2000, 0)


def test_kafkas_consumer_groups_tool_shows_the_sinks_offsets(
    live_settings: Settings, shared_csv: Path
) -> None:
    """Kafka's committed offsets are an advisory mirror, written at most once a second and
    at the end: once a run ends, Kafka's own kafka-consumer-groups (a stock client) shows the
    offsets Postgres holds, and no lag."""
    with temp_topic(live_settings) as topic, temp_schema(live_settings) as dsn:
        produce(live_settings, topic, shared_csv)
        group = unique_name("g")
        stats = make_sink(live_settings, dsn, topic, group=group, batch_size=50).run()
        assert stats.scored == 2000 and stats.batches >= 40
        described = kafka_tool(
            "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
            "--bootstrap-server", live_settings.bootstrap_servers,
            "--command-config", str(tools_properties()), "--describe", "--group", group,
        )  # fmt: skip
        assert described.returncode == 0, described.stderr[-2000:]
        stored = dict(query(dsn, "SELECT partition, next_offset FROM consumer_offsets"))
    header, *rows = [line.split() for line in described.stdout.splitlines() if topic in line
                     or line.startswith("GROUP")]  # fmt: skip
    shown = {int(r[header.index("PARTITION")]): (int(r[header.index("CURRENT-OFFSET")]),
                                                  int(r[header.index("LAG")])) for r in rows}  # fmt: skip
    assert shown == {p: (offset, 0) for p, offset in stored.items()}, described.stdout


def test_poison_messages_are_dead_lettered_and_good_events_around_them_scored(
    live_settings: Settings, shared_csv: Path, tmp_path: Path
) -> None:
    csv = tmp_path / "loans.csv"
    write_loans_csv(csv, shared_csv, 10)
    with temp_topic(live_settings, partitions=1) as topic, temp_schema(live_settings) as dsn:
        produce(live_settings, topic, csv)  # 10 good events
        valid = orjson.loads(unframe(read_topic(live_settings, topic)[0].value())[1])
        poison = {
            "not JSON": b"{this is not json",
            "empty": b"",
            "array": b"[1, 2, 3]",
            "missing id": orjson.dumps({k: v for k, v in valid.items() if k != "id"}),
            "wrong type": orjson.dumps({**valid, "id": "p-wrong", "loan_amnt": ["a", "list"]}),
            "sql": orjson.dumps({**valid, "id": "x'); DROP TABLE risk_scored; --"}),
        }
        producer = Producer(live_settings.kafka_config())
        for name, value in poison.items():
            producer.produce(topic, key=name.encode(), value=value)
        producer.flush(10)
        produce(live_settings, topic, csv, run_id="r2")  # 10 more good events after the poison
        stats = make_sink(live_settings, dsn, topic).run()
        dead = dict(query(dsn, "SELECT key, error FROM dead_letters"))
        stored_ids = {r[0] for r in query(dsn, "SELECT loan_id FROM risk_scored")}
    assert stats.consumed == 26
    # the SQL-looking id is a valid string id: it is stored as data, never executed
    assert "x'); DROP TABLE risk_scored; --" in stored_ids
    assert stats.dead_lettered == len(dead) == 5
    assert dead["not JSON"].startswith("not JSON")
    assert dead["empty"] == "empty value"
    assert dead["array"].startswith("not a JSON object")
    assert "id" in dead["missing id"]
    assert "loan_amnt" in dead["wrong type"]
    assert len(stored_ids) == 11  # 10 loans (re-sent: upserted once each) + the SQL-looking id


def test_a_second_consumer_of_the_same_partition_is_fenced(
    live_settings: Settings, shared_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with temp_topic(live_settings, partitions=1) as topic, temp_schema(live_settings) as dsn:
        produce(live_settings, topic, shared_csv)
        group = unique_name("g")
        zombie = make_sink(live_settings, dsn, topic, group=group, batch_size=500)
        real_write = zombie.writer.write

        def other_consumer_moves_first(conn, batch, expected):
            # while the zombie scored its batch, a newer task stored progress (a zombie keeps
            # its lease, so the newer one writes without: only the fence stands between them)
            make_sink(live_settings, dsn, topic, group=group, lease=False).run(max_events=200)
            monkeypatch.setattr(zombie.writer, "write", real_write)
            return real_write(conn, batch, expected)

        monkeypatch.setattr(zombie.writer, "write", other_consumer_moves_first)
        with pytest.raises(FencedError, match="another consumer"):
            zombie.run()
        assert counts(dsn)[0] == 200  # only the newer consumer's rows


def test_republish_to_scored_topic(
    live_settings: Settings, shared_csv: Path, tmp_path: Path
) -> None:
    csv = tmp_path / "loans.csv"
    ids = write_loans_csv(csv, shared_csv, 50)
    with (
        temp_topic(live_settings) as topic,
        temp_topic(live_settings, prefix="scored") as scored,
        temp_schema(live_settings) as dsn,
    ):
        produce(live_settings, topic, csv)
        stats = make_sink(live_settings, dsn, topic, republish_topic=scored).run()
        out = read_topic(live_settings, scored)
    assert stats.republished == 50
    assert sorted(m.key().decode() for m in out) == sorted(ids)
    schema_id, body = unframe(out[0].value())  # framed: risk_decision's id in the registry
    payload = orjson.loads(body)
    assert schema_id is not None and tuple(payload) == decision.FIELD_NAMES
    assert dict(out[0].headers())["src_topic"] == topic.encode()


def test_unreachable_postgres_fails_fast(live_settings: Settings) -> None:
    from loanstream.sink import SinkError

    with temp_topic(live_settings, partitions=1) as topic:
        sink = make_sink(live_settings, "postgresql://nobody@127.0.0.1:1/x", topic)
        with pytest.raises(SinkError, match="cannot connect to Postgres"):
            sink.run()


def test_native_and_python_scoring_store_identical_tables(
    live_settings: Settings, shared_csv: Path
) -> None:
    """The same topic (2,000 real rows, a replay of them, poison) into two schemas: the native
    scorer's run and a Python-only run store the same rows and dead letters."""
    columns = (
        "loan_id, loan_amnt, term_months, int_rate, annual_inc, dti, revol_util, "
        "emp_length_years, credit_history_months, fico, inq_last_6mths, delinq_2yrs, pub_rec, "
        "home_ownership, purpose, risk_score, risk_band, decision, reasons, rules_version, "
        "event_time, run_id, src_topic, src_partition, src_offset"
    )
    with temp_topic(live_settings, partitions=2) as topic:
        produce(live_settings, topic, shared_csv, run_id="r1")
        producer = Producer(live_settings.kafka_config())
        for value in (b"{not json", b"", b'{"id": "no-amount", "term": "36"}'):
            producer.produce(topic, key=b"poison", value=value)
        producer.flush(10)
        produce(live_settings, topic, shared_csv, run_id="r2")  # a replay: new current decisions
        tables = {}
        for mode in ("on", "off"):
            with temp_schema(live_settings) as dsn:
                stats = make_sink(live_settings, dsn, topic, native=mode, batch_size=700).run()
                assert (stats.consumed, stats.scored, stats.dead_lettered) == (4003, 4000, 3)
                assert stats.stored == 4000 and stats.already_decided == 0
                if mode == "on":
                    # the topic's schema id resolved before the first batch: all natively
                    assert stats.scored_natively == 4000
                else:
                    assert stats.scored_natively == 0
                tables[mode] = (
                    query(dsn, f"SELECT {columns} FROM risk_scored ORDER BY loan_id"),  # noqa: S608
                    query(
                        dsn,
                        'SELECT partition, "offset", key, error FROM dead_letters ORDER BY 1, 2',
                    ),
                    stats.bands,
                    stats.decisions,
                )
    assert len(tables["on"][0]) == 2000 and {r[21] for r in tables["on"][0]} == {"r2"}
    assert tables["on"] == tables["off"]


def test_every_decision_is_kept_and_never_rewritten(
    live_settings: Settings, shared_csv: Path, tmp_path: Path
) -> None:
    """risk_scored (a view) holds the latest decision per loan; risk_decisions every one,
    append-only, each written once."""
    import psycopg2

    csv = tmp_path / "loans.csv"
    write_loans_csv(csv, shared_csv, 120)
    with temp_topic(live_settings, partitions=2) as topic, temp_schema(live_settings) as dsn:
        group = unique_name("g")
        produce(live_settings, topic, csv, run_id="first")
        make_sink(live_settings, dsn, topic, group=group).run()
        produce(live_settings, topic, csv, run_id="replay")  # the same loans again
        make_sink(live_settings, dsn, topic, group=group).run()
        # another group re-reads the same offsets: those events are decided already
        other = make_sink(live_settings, dsn, topic, group=unique_name("other")).run()
        assert (other.scored, other.stored, other.already_decided) == (240, 0, 240)
        assert query(dsn, "SELECT DISTINCT run_id FROM risk_scored") == [("replay",)]
        ((latest, kept, per_loan, first_runs),) = query(
            dsn,
            "SELECT (SELECT count(*) FROM risk_scored), (SELECT count(*) FROM risk_decisions), "
            "(SELECT max(n) FROM (SELECT count(*) AS n FROM risk_decisions GROUP BY loan_id) t), "
            "(SELECT count(*) FROM risk_decisions WHERE run_id = 'first')",
        )
        assert (latest, kept, per_loan, first_runs) == (120, 240, 2, 120)
        # the two tables agree on the latest decision of each loan
        ((disagree,),) = query(
            dsn,
            "SELECT count(*) FROM risk_scored s JOIN risk_decisions d USING (src_topic, "
            "src_partition, src_offset) WHERE (s.loan_id, s.risk_score, s.decision, s.run_id) "
            "IS DISTINCT FROM (d.loan_id, d.risk_score, d.decision, d.run_id)",
        )
        ((joined,),) = query(
            dsn,
            "SELECT count(*) FROM risk_scored s JOIN risk_decisions d USING (src_topic, "
            "src_partition, src_offset)",
        )
        assert (joined, disagree) == (120, 0)
        for statement in ("UPDATE risk_decisions SET risk_score = 0", "DELETE FROM risk_decisions"):
            with pytest.raises(psycopg2.Error, match="append-only"):
                query(dsn, statement)
