"""The ``loanstream`` command line: ``loanstream {produce,consume,validate,evaluate,...}``.

Each sub-command lives in ``loanstream.commands.<name>`` with ``register(subparsers)``, which
adds its parser and sets ``func`` to a ``run(args) -> int`` returning the exit code. The last
line a command prints to stdout is one JSON object, for scripts and Airflow. A command line
that names its command imports that command's module only (``loanstream consume`` starts
without the producer's, the evaluation's or validation's imports); without one, all of them
(``loanstream --help`` lists every command).
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


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of ``command`` only when it is one of them."""
    parser = argparse.ArgumentParser(
        prog="loanstream",
        description="Stream loan applications through Kafka into risk scores in Postgres.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    module_name = (command or "").replace("-", "_")  # `dead-letters` lives in dead_letters
    for name in (module_name,) if module_name in COMMANDS else COMMANDS:
        try:
            module = importlib.import_module(f"loanstream.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"loanstream.commands.{name}":
                continue  # command not built yet
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # the first word that is not an option is the command (the one global option, -v, takes
    # no value)
    parser = build_parser(next((word for word in argv if not word.startswith("-")), None))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
