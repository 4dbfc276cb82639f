"""Broker ingest on a three-node cluster: replication 3 (min.insync.replicas 2) against 1.

Starts a private three-node KRaft cluster (the layout of ``LOANSTREAM_KAFKA_BROKERS=3 make
up``: three combined broker+controller nodes, 256 MiB heaps) on free ports, then, back to back
and alternating, ``--rounds`` times each:

1. Kafka's ``ProducerPerformance`` sending ``--rows`` of our serialised events (acks=all,
   idempotence, our linger/batch/compression) into a 3-partition topic with replication 3,
   and into one with replication 1 on the same cluster;
2. loanstream's own producer (``EventProducer.produce_csv``, unthrottled) into the same two
   kinds of topic.

Everything runs on this machine's two cores (three broker JVMs, the client), so the figures
are the floor of what three real machines give. Prints one JSON line per run; ``--markdown``
prints the table for docs/SCALING.md. Needs only the Kafka jars (``make setup``), not ``make up``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_producer import dataset, payload_file, producer_performance_command  # noqa: E402

from devstack.kafka_auth import write_tools_files  # noqa: E402
from loanstream.kafka.topics import ensure_topic  # noqa: E402
from loanstream.produce.producer import EventProducer  # noqa: E402
from tests.chaos.services import kafka_settings, running_kafka_cluster  # noqa: E402
from tests.resources import delete_topics, unique_name  # noqa: E402


def tool_run(bootstrap: str, topic: str, payloads: Path, rows: int, login: Path) -> float:
    import re
    import subprocess

    command = producer_performance_command(bootstrap, topic, rows, payloads, heap="512m", login=str(login))
    proc = subprocess.run(command, capture_output=True, text=True, timeout=900)
    line = [x for x in proc.stdout.splitlines() if "records sent" in x][-1]
    return float(re.search(r"([\d.]+) records/sec", line).group(1))


def ours_run(config: dict[str, str], topic: str, csv: Path) -> float:
    producer = EventProducer(config, topic)
    stats = producer.produce_csv(csv, run_id=unique_name("bench"))
    assert stats.failed == 0 and stats.delivered == stats.sent
    return stats.eps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    csv = dataset(args.rows)
    payloads, avg = payload_file(csv, args.rows)
    results: dict[tuple[str, int], list[float]] = {}
    with running_kafka_cluster("bench") as cluster:
        settings = kafka_settings(cluster)
        login, _ = write_tools_files(cluster.base, cluster.admin_config())  # 0600, removed with it
        made: list[str] = []
        try:
            for rnd in range(args.rounds):
                for replication in (3, 1) if rnd % 2 == 0 else (1, 3):
                    for who in ("kafka-tool", "loanstream"):
                        topic = unique_name(f"bench_r{replication}")
                        made.append(topic)
                        layout = ensure_topic(
                            settings.kafka_config(), topic, partitions=3,
                            replication=replication, use_rpk=False,
                        )  # fmt: skip
                        t0 = time.perf_counter()
                        if who == "kafka-tool":
                            eps = tool_run(cluster.bootstrap, topic, payloads, args.rows, login)
                        else:
                            eps = ours_run(cluster.admin_config(), topic, csv)
                        results.setdefault((who, replication), []).append(eps)
                        print(json.dumps({
                            "bench": "cluster_ingest", "round": rnd, "producer": who,
                            "replication": layout.replication,
                            "min_insync_replicas": layout.min_insync_replicas,
                            "events": args.rows, "avg_record_bytes": avg, "eps": round(eps),
                            "wall_s": round(time.perf_counter() - t0, 2),
                        }), flush=True)  # fmt: skip
                        delete_topics(settings.kafka_config(), [topic])
                        made.remove(topic)
        finally:
            delete_topics(settings.kafka_config(), made)
    if args.markdown:
        print("\n| producer | replication 1 (min ISR 1) | replication 3 (min ISR 2) | ratio 3 / 1 |")
        print("|---|---|---|---|")
        for who in ("kafka-tool", "loanstream"):
            one, three = results[(who, 1)], results[(who, 3)]
            print(
                f"| {who} | {', '.join(f'{x:,.0f}' for x in one)} eps | "
                f"{', '.join(f'{x:,.0f}' for x in three)} eps | "
                f"{statistics.median(three) / statistics.median(one):.2f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
