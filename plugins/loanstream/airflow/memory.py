"""A task's peak memory, logged once when it ends (a milestone line users and benchmarks read)."""

from __future__ import annotations

import resource
from typing import Any


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class LogsPeakMemory:
    """Mixin for operators and sensors: ``peak memory (RSS): N MiB`` after ``execute``."""

    def post_execute(self, context: Any, result: Any = None) -> None:
        super().post_execute(context, result)  # type: ignore[misc]
        self.log.info("peak memory (RSS): %.0f MiB", peak_rss_mb())  # type: ignore[attr-defined]
