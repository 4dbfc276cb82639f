"""``loanstream consume``: score events into Postgres exactly once: those waiting now (then
exit), or, with ``--follow``, as they arrive until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import logging

from loanstream.commands._common import on_stop_signals, print_json
from loanstream.config import Settings
from loanstream.kafka.topics import TopicError, ensure_topic
from loanstream.sink import ScoringSink, SinkError

log = logging.getLogger("loanstream.consume")


def register(subparsers: argparse._SubParsersAction) -> None:
    settings = Settings.from_env()
    p = subparsers.add_parser(
        "consume", help="score events into Postgres until caught up, or --follow the stream"
    )
    p.add_argument("--follow", action="store_true",
                   help="keep scoring as events arrive until interrupted (SIGINT/SIGTERM finish "
                        "the batch in flight and report)")  # fmt: skip
    p.add_argument("--partition", type=int, action="append", default=None,
                   help="partition to consume (repeatable; default all)")  # fmt: skip
    p.add_argument("--max", type=int, default=None, dest="max_events", help="stop after N events")
    p.add_argument("--idle-timeout", type=float, default=30.0,
                   help="stop when no event arrives for this many seconds (default 30)")  # fmt: skip
    p.add_argument("--republish", action="store_true",
                   help=f"also produce scored events to '{settings.scored_topic}'")  # fmt: skip
    p.add_argument("--topic", default=settings.topic)
    p.add_argument("--group", default=settings.consumer_group)
    p.add_argument("--bootstrap", default=settings.bootstrap_servers)
    p.add_argument("--batch-size", type=int, default=2000)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    try:
        sink = ScoringSink(
            settings.kafka_config(**{"bootstrap.servers": args.bootstrap}),
            settings.pg_dsn,
            args.topic,
            group=args.group,
            batch_size=args.batch_size,
            republish_topic=settings.scored_topic if args.republish else None,
            migrations_dir=settings.migrations_dir,
            native=settings.native_scoring,
        )
        on_stop_signals(sink.stop)
        if args.republish:
            ensure_topic(sink.kafka_config, settings.scored_topic, partitions=settings.partitions)
        stats = sink.run(
            args.partition,
            max_events=args.max_events,
            idle_timeout=args.idle_timeout,
            follow=args.follow,
        )
    except (SinkError, TopicError) as exc:
        log.error("%s", exc)
        print_json({"error": str(exc), "consumed": 0, "scored": 0, "dead_lettered": 0})
        return 1
    print_json(stats.to_dict())
    return 0
