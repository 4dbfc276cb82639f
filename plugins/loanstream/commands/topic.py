"""``loanstream topic create``: create the events topic (rpk if installed, else Admin API)."""

from __future__ import annotations

import argparse
import logging

from loanstream.commands._common import print_json
from loanstream.config import Settings
from loanstream.kafka.topics import TopicError, ensure_topic
from loanstream.runs.params import RunParamError, run_topic

log = logging.getLogger("loanstream.topic")


def register(subparsers: argparse._SubParsersAction) -> None:
    settings = Settings.from_env()
    p = subparsers.add_parser("topic", help="create the events topic")
    p.add_argument("action", choices=["create"])
    p.add_argument("--topic", default=settings.topic)
    p.add_argument("--partitions", type=int, default=settings.partitions)
    p.add_argument(
        "--replication", type=int, default=None, help="replicas (default: min(3, brokers))"
    )
    p.add_argument("--retention-ms", type=int, default=settings.retention_ms)
    p.add_argument("--bootstrap", default=settings.bootstrap_servers)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    try:
        topic = run_topic(args.topic, settings)
    except RunParamError as exc:
        log.error("%s", exc)
        print_json({"error": str(exc), "topic": str(args.topic)[:60]})
        return 2
    try:
        result = ensure_topic(
            settings.kafka_config(**{"bootstrap.servers": args.bootstrap}),
            topic,
            partitions=args.partitions,
            replication=args.replication,
            retention_ms=args.retention_ms,
        )
    except TopicError as exc:
        log.error("%s", exc)
        print_json({"error": str(exc), "topic": args.topic})
        return 1
    print_json(result.to_dict())
    return 0
