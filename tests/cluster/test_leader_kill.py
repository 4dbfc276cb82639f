"""SIGKILL the leader of a partition on a three-broker cluster, while the producer sends and
again while the sink consumes: every event once in the topic, every row once in Postgres, and
neither run repeated (no retry of the whole file).

loanstream's own producer and sink (``loanstream produce`` / ``loanstream consume`` as
subprocesses, no Airflow) against the private cluster of ``tests/cluster/conftest.py``; the
topic has replication 3, ``min.insync.replicas`` 2, unclean leader election off (what
``ensure_topic`` chooses for three brokers). The killed node is restarted on its data while the
run goes on. Figures: ``$LOANSTREAM_REPORTS_DIR/chaos/cluster_leader_kill.json``.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from loanstream.config import Settings
from loanstream.kafka.topics import ensure_topic
from tests.chaos.chaos_common import (
    check_database,
    check_produced,
    delete_topic,
    env_seed,
    percentile,
    record,
    slow_batches,
    topic_ends,
    wait_sink_sessions_gone,
)
from tests.chaos.services import PrivateKafkaCluster, chaos_trials, kafka_settings, start_cli
from tests.chaos.test_broker_kill import _big_csv
from tests.helpers import query, temp_schema, unique_name

pytestmark = pytest.mark.cluster

TRIALS = chaos_trials(default=1)
RATE = 1000  # events/s: the 6,000 events take 6 s, so the kill lands mid-stream
PARTITIONS = 3
BATCH = 50
IDLE_TIMEOUT = 60  # above a leader election after a SIGKILL (broker session timeout 9 s)


def _kill_leader(cluster: PrivateKafkaCluster, topic: str, rng: random.Random) -> dict:
    """SIGKILL the leader of a random partition, keep it down a moment, restart it."""
    partition = rng.randrange(PARTITIONS)
    leader = cluster.leader(topic, partition)
    assert leader > 0, f"partition {partition} has no leader before the kill"
    cluster.kill(leader)
    down_at = time.monotonic()
    time.sleep(rng.uniform(0.5, 2.0))
    restart_s = cluster.restart(leader)
    return {
        "partition": partition,
        "killed_node": leader,
        "outage_s": round(time.monotonic() - down_at, 2),
        "restart_s": round(restart_s, 2),
    }


@pytest.mark.timeout(240 + 150 * TRIALS)
def test_leader_sigkill_while_producing_and_consuming_is_exactly_once(
    cluster_up: PrivateKafkaCluster, settings: Settings, shared_csv: Path, tmp_path: Path
) -> None:
    cluster = cluster_up
    kafka = kafka_settings(cluster, pg_dsn=settings.pg_dsn)
    csv, ids = _big_csv(shared_csv, tmp_path)
    rng = random.Random(seed := env_seed())
    trials = []
    try:
        for trial in range(TRIALS):
            if not all(node.alive() for node in cluster.nodes):
                cluster.start()
            topic = unique_name("cluster_kill")
            layout = ensure_topic(kafka.kafka_config(), topic, partitions=PARTITIONS, use_rpk=False)
            assert (layout.replication, layout.min_insync_replicas, layout.brokers) == (3, 2, 3)
            try:
                # --- 1. the leader of a partition dies while the producer sends ---------------
                log = tmp_path / f"produce{trial}.log"
                producer = start_cli(
                    kafka, "produce", "--allow-any-path", "--csv", str(csv), "--topic", topic,
                    "--rate", str(RATE), "--bootstrap", cluster.bootstrap,
                    "--run-id", f"cluster-{trial}", log=log,
                )  # fmt: skip
                time.sleep(rng.uniform(1.0, 0.5 * len(ids) / RATE))
                assert producer.poll() is None, "the producer finished before the kill"
                produce_kill = _kill_leader(cluster, topic, rng)
                rc = producer.wait(240)
                produced = check_produced(kafka, topic, log, rc, ids, f"cluster-{trial}")
                ends = topic_ends(kafka, topic)
                assert sum(ends.values()) == len(ids)

                # --- 2. the leader of a partition dies while the sink consumes ----------------
                with temp_schema(settings) as dsn:
                    slow_batches(dsn, 0.05)  # ~120 batches: a ~6 s stream to aim the kill at
                    group = unique_name("cluster_group")
                    sink_settings = kafka_settings(cluster, pg_dsn=dsn)
                    log = tmp_path / f"consume{trial}.log"
                    consumer = start_cli(
                        sink_settings, "consume", "--topic", topic, "--group", group,
                        "--batch-size", str(BATCH), "--idle-timeout", str(IDLE_TIMEOUT), log=log,
                    )  # fmt: skip
                    target = rng.randint(BATCH, len(ids) // 2)
                    t0 = time.monotonic()
                    while consumer.poll() is None and time.monotonic() - t0 < 60:
                        if query(dsn, "SELECT count(*) FROM risk_scored")[0][0] >= target:
                            break
                        time.sleep(0.02)
                    (stored_at_kill,) = query(dsn, "SELECT count(*) FROM risk_scored")[0]
                    assert consumer.poll() is None, "the sink finished before the kill"
                    consume_kill = _kill_leader(cluster, topic, rng)
                    rc = consumer.wait(240)
                    output = log.read_text()
                    assert rc == 0, output[-3000:]
                    sink_stats = json.loads(output.strip().splitlines()[-1])
                    wait_sink_sessions_gone(dsn)
                    outcome = check_database(dsn, topic, group, set(ids), set(), ends)
                result = {
                    "trial": trial,
                    "produce_kill": produce_kill,
                    **produced,
                    "consume_kill": {**consume_kill, "stored_at_kill": stored_at_kill},
                    "sink_consumed": sink_stats["consumed"],
                    "sink_scored": sink_stats["scored"],
                    "sink_already_decided": sink_stats["already_decided"],
                    "sink_seconds": sink_stats.get("seconds"),
                    **{f"db_{k}": v for k, v in outcome.to_dict().items()},
                }
                trials.append(result)
                assert outcome.exact, result
                # one pass: the sink scored each event once and never re-upserted a stored row
                assert sink_stats["scored"] == len(ids) and sink_stats["already_decided"] == 0, result
            finally:
                delete_topic(kafka, topic)
    except BaseException as exc:
        record("cluster_leader_kill", {"seed": seed, "failed_trial": len(trials),
               "error": repr(exc)[:2000], "per_trial": trials})  # fmt: skip
        raise
    record(
        "cluster_leader_kill",
        {
            "seed": seed,
            "trials": len(trials),
            "events_per_trial": len(ids),
            "rate": RATE,
            "brokers": 3,
            "replication": 3,
            "min_insync_replicas": 2,
            "exact": sum(t["db_exact"] and t["duplicate_keys"] == 0 for t in trials),
            "node_restart_s_p50": percentile(
                [t[k]["restart_s"] for t in trials for k in ("produce_kill", "consume_kill")], 0.5
            ),
            "producer_s_max": max(t["producer_s"] for t in trials),
            "delivery_s_max": max(t["delivery_s"] for t in trials),
            "ideal_producer_s": len(ids) / RATE,
            "per_trial": trials,
        },
    )
