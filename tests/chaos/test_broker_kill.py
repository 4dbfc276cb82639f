"""SIGKILL the (private) Kafka broker while ``loanstream produce`` runs, then restart it.

The idempotent producer (acks=all, enable.idempotence) must deliver every event exactly once:
the topic is read back and every key and every lineage ``row`` header must occur once.
Figures: ``$LOANSTREAM_REPORTS_DIR/chaos/broker_kill.json``.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from loanstream.kafka.topics import ensure_topic
from tests.chaos.chaos_common import check_produced, delete_topic, env_seed, percentile, record
from tests.chaos.services import PrivateKafka, chaos_trials, kafka_settings, start_cli
from tests.helpers import unique_name, write_loans_csv

pytestmark = pytest.mark.chaos

TRIALS = max(1, chaos_trials() // 5)
COPIES = 3  # the 2,000-row real sample three times, ids prefixed: 6,000 events
RATE = 1000  # events/s: a 6 s run, so the kill and the restart land mid-stream


def _big_csv(shared_csv: Path, tmp: Path) -> tuple[Path, list[str]]:
    out = tmp / "loans.csv"
    ids: list[str] = []
    with out.open("w", newline="") as handle:
        for copy in range(COPIES):
            part = tmp / f"part{copy}.csv"
            ids += write_loans_csv(part, shared_csv, 10**9, id_prefix=f"9{copy:02d}")
            lines = part.read_text().splitlines(keepends=True)
            handle.writelines(lines if copy == 0 else lines[1:])
    return out, ids


@pytest.mark.timeout(120 + 90 * TRIALS)
def test_broker_sigkill_while_producing_delivers_every_event_exactly_once(
    kafka_up: PrivateKafka, shared_csv: Path, tmp_path: Path
) -> None:
    kafka = kafka_up
    settings = kafka_settings(kafka)
    csv, ids = _big_csv(shared_csv, tmp_path)
    rng = random.Random(seed := env_seed())
    trials = []
    for trial in range(TRIALS):
        topic = unique_name("chaos_produce")
        ensure_topic(settings.kafka_config(), topic, partitions=3, use_rpk=False)
        log = tmp_path / f"produce{trial}.log"
        run_id = f"chaos-broker-{trial}"
        proc = start_cli(
            settings, "produce", "--allow-any-path", "--csv", str(csv), "--topic", topic, "--rate", str(RATE),
            "--bootstrap", kafka.bootstrap, "--run-id", run_id, log=log,
        )  # fmt: skip
        kill_at = rng.uniform(1.5, 0.6 * len(ids) / RATE)
        time.sleep(kill_at)
        assert proc.poll() is None, "the producer finished before the broker was killed"
        kafka.kill()
        down_at = time.monotonic()
        time.sleep(rng.uniform(0, 2))  # down for a moment while the producer keeps queueing
        restart_s = kafka.start()
        outage = time.monotonic() - down_at
        rc = proc.wait(200)
        try:
            produced = check_produced(settings, topic, log, rc, ids, run_id)
        finally:
            delete_topic(settings, topic)
        trials.append({
            "trial": trial,
            "kill_after_s": round(kill_at, 2),
            "outage_s": round(outage, 2),
            "broker_restart_s": round(restart_s, 2),
            "ideal_seconds": len(ids) / RATE,
            "expected": len(ids),
            **produced,
        })  # fmt: skip
    record(
        "broker_kill",
        {
            "seed": seed,
            "trials": len(trials),
            "events_per_trial": len(ids),
            "rate": RATE,
            "exact": sum(
                t["duplicate_keys"] == t["duplicate_rows"] == t["missing"] == 0 for t in trials
            ),
            "broker_restart_s_p50": percentile([t["broker_restart_s"] for t in trials], 0.5),
            "outage_s_max": max(t["outage_s"] for t in trials),
            "delay_over_ideal_s_max": round(
                max(t["producer_s"] - t["ideal_seconds"] for t in trials), 2
            ),
            "per_trial": trials,
        },
    )
