"""``loanstream produce``: stream a CSV to Kafka as keyed, typed, registered events at a target rate."""

from __future__ import annotations

import argparse
import logging

from loanstream.commands._common import add_allow_any_path, on_stop_signals, print_json
from loanstream.config import Settings
from loanstream.paths import CsvOpenError, PathNotAllowed, open_checked_csv
from loanstream.produce.events import EventSourceError
from loanstream.produce.producer import EventProducer, ProduceError, ProducerOptions
from loanstream.runs.params import RunParamError, run_topic

log = logging.getLogger("loanstream.produce")


def register(subparsers: argparse._SubParsersAction) -> None:
    settings = Settings.from_env()
    p = subparsers.add_parser("produce", help="stream a CSV to Kafka as typed, registered loan_application events")
    p.add_argument(
        "--csv",
        default=str(settings.sample_csv),
        help="CSV file inside LOANSTREAM_DATA_DIRS unless --allow-any-path "
        "(default: shipped sample)",
    )
    add_allow_any_path(p)
    p.add_argument("--rate", type=float, default=0, help="events/s, 0 = unthrottled (default 0)")
    p.add_argument("--max", type=int, default=None, dest="max_events", help="stop after N events")
    p.add_argument("--skip", type=int, default=0, help="skip the first N data rows")
    p.add_argument("--topic", default=settings.topic)
    p.add_argument("--bootstrap", default=settings.bootstrap_servers)
    p.add_argument(
        "--schema-registry",
        default=settings.schema_registry_url,
        help="the schema registry's Confluent-compatible URL (LOANSTREAM_SCHEMA_REGISTRY_URL)",
    )
    p.add_argument("--run-id", default=None, help="lineage run id put in each event's headers")
    p.add_argument("--linger-ms", type=int, default=ProducerOptions.linger_ms)
    p.add_argument("--batch-bytes", type=int, default=ProducerOptions.batch_bytes)
    p.add_argument("--compression", default=ProducerOptions.compression)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    try:
        topic = run_topic(args.topic, settings)
        csv_file = open_checked_csv(args.csv, allow_any_path=args.allow_any_path)
    except (RunParamError, PathNotAllowed, CsvOpenError) as exc:
        log.error("%s", exc)
        print_json({"error": str(exc), "sent": 0, "delivered": 0, "failed": 0})
        return 2
    options = ProducerOptions(
        linger_ms=args.linger_ms, batch_bytes=args.batch_bytes, compression=args.compression
    )
    config = settings.kafka_config(**{"bootstrap.servers": args.bootstrap})
    producer = EventProducer(
        config, topic, options=options, schema_registry_url=args.schema_registry
    )
    on_stop_signals(producer.stop)
    try:
        with csv_file:  # opened once: the events are read from this descriptor
            stats = producer.produce_csv(
                csv_file, rate=args.rate, max_events=args.max_events, skip=args.skip,
                run_id=args.run_id,
            )  # fmt: skip
    except (EventSourceError, ValueError) as exc:
        log.error("%s", exc)
        print_json({"error": str(exc), "sent": 0, "delivered": 0, "failed": 0})
        return 2
    except ProduceError as exc:
        log.error("%s", exc)
        data = exc.stats.to_dict() if exc.stats else {"sent": 0, "delivered": 0, "failed": 0}
        data["error"] = str(exc)
        print_json(data)
        return 1
    print(stats.human_line(), flush=True)
    print_json(stats.to_dict())
    return 130 if stats.interrupted else 0
