"""Helpers shared by the sub-commands: the final JSON line and signal handling."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from typing import Any


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
