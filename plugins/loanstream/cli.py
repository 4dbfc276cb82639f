"""The ``loanstream`` command line: ``loanstream {produce,consume,validate,evaluate,...}``.

Each sub-command lives in ``loanstream.commands.<name>`` with ``register(subparsers)``, which
adds its parser and sets ``func`` to a ``run(args) -> int`` returning the exit code. The last
line a command prints to stdout is one JSON object, for scripts and Airflow.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

COMMANDS = (
    "produce", "consume", "validate", "evaluate", "topic", "schema", "generate", "dead_letters",
    "decisions",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loanstream",
        description="Stream loan applications through Kafka into risk scores in Postgres.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"loanstream.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"loanstream.commands.{name}":
                continue  # command not built yet
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
