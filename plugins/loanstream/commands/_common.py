"""Helpers shared by the sub-commands: the final JSON line and signal handling."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable
from typing import Any


def add_allow_any_path(parser: argparse.ArgumentParser) -> None:
    """``--allow-any-path``: read a CSV outside the data directories (the user's own choice)."""
    parser.add_argument(
        "--allow-any-path",
        action="store_true",
        help="read --csv even outside LOANSTREAM_DATA_DIRS (default: refuse such paths)",
    )


def print_json(data: dict[str, Any]) -> None:
    """Print ``data`` as the command's last stdout line."""
    print(json.dumps(data, default=str, sort_keys=False), flush=True)


def on_stop_signals(stop: Callable[[], None]) -> None:
    """Call ``stop`` on SIGINT/SIGTERM (first signal: graceful; second: default behaviour)."""

    def handler(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        print(f"{name} received: stopping after the current step (again to abort)", file=sys.stderr)
        signal.signal(signum, signal.SIG_DFL)
        stop()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
