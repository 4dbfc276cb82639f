"""When a consume run is over: caught up, following for ever, or the end of a pipeline run.

Each condition answers two questions, asked by the run loop between batches: how far each
partition may be read (``limits``: an offset not to reach, or none), and whether the run is over
(``done``: the reason, which becomes ``SinkStats.stopped_by``, or None).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from loanstream.store.ledger import LedgerError, RunLedger, RunProgress

log = logging.getLogger(__name__)


class CaughtUp:
    """Batch mode: read up to the end offsets seen at start; stop there, or after
    ``idle_timeout`` seconds without an event while some were still expected."""

    def __init__(self, end_offsets: Mapping[int, int], idle_timeout: float) -> None:
        self.end_offsets = dict(end_offsets)
        self.idle_timeout = idle_timeout

    def describe(self) -> str:
        return f"until caught up with the end offsets at start {self.end_offsets}"

    def limits(self) -> dict[int, int]:
        return self.end_offsets

    def done(self, positions: Mapping[int, int], idle_seconds: float) -> str | None:
        left = {p: e - positions[p] for p, e in self.end_offsets.items() if positions[p] < e}
        if not left:
            return "caught-up"
        if idle_seconds > self.idle_timeout:
            log.warning(
                "no events for %.0fs while %s were still expected: stopping (idle timeout)",
                self.idle_timeout, left,
            )  # fmt: skip
            return "idle-timeout"
        return None


class Follow:
    """``consume --follow``: keep scoring as events arrive, until asked to stop."""

    def describe(self) -> str:
        return "following the topic until interrupted (SIGINT/SIGTERM)"

    def limits(self) -> dict[int, int]:
        return {}

    def done(self, positions: Mapping[int, int], idle_seconds: float) -> str | None:
        return None


class RunEnd:
    """A pipeline run: score while its producer sends; stop once the run's last event on each
    partition is stored (``loanstream.store.ledger``).

    Never earlier: a slow, paused or retrying producer keeps the consumers going. Never for
    ever: a producer that stopped or failed ends the run at what it delivered; one whose
    heartbeat is older than ``stale_after`` seconds (killed without a word; three times that
    while a retry is pending) ends it at what had arrived by then.

    :param ledger: the run's ledger (its own Postgres connection).
    :param partitions: the partitions this consumer works.
    :param high_watermarks: returns the topic's end offsets now (for a producer that is gone).
    :param stale_after: heartbeat age in seconds after which the producer counts as gone.
    :param idle_timeout: once the run is final, seconds without an event before giving up on
        events the ledger says exist (deleted by retention, say).
    :param refresh: seconds between ledger reads.
    """

    def __init__(
        self,
        ledger: RunLedger,
        partitions: list[int],
        high_watermarks: Callable[[], dict[int, int]],
        *,
        stale_after: float = 60.0,
        idle_timeout: float = 30.0,
        refresh: float = 0.2,
    ) -> None:
        self.ledger = ledger
        self.partitions = partitions
        self.high_watermarks = high_watermarks
        self.stale_after = stale_after
        self.idle_timeout = idle_timeout
        self.refresh = refresh
        self.progress: RunProgress | None = None
        self._read_at = float("-inf")
        self._started = time.monotonic()
        self._frozen: dict[int, int] | None = None  # end offsets once the producer is gone
        self._warned = False

    def describe(self) -> str:
        return f"until run {self.ledger.run_id} is over (ledger in Postgres)"

    def _read(self) -> RunProgress | None:
        now = time.monotonic()
        if now - self._read_at >= self.refresh:
            self._read_at = now
            try:
                self.progress = self.ledger.read()
                self._warned = False
            except LedgerError as exc:
                if not self._warned:
                    log.warning("%s (will retry)", exc)
                    self._warned = True
        return self.progress

    def _gone(self, progress: RunProgress) -> bool:
        bound = self.stale_after * (3 if progress.state == "retrying" else 1)
        return progress.gone(bound)

    def limits(self) -> dict[int, int]:
        progress = self.progress
        if progress is not None and progress.final:
            return {p: progress.end_offset(p) for p in self.partitions}
        return self._frozen or {}

    def done(self, positions: Mapping[int, int], idle_seconds: float) -> str | None:
        progress = self._read()
        if progress is None:
            if time.monotonic() - self._started > self.stale_after:
                log.warning(
                    "run %s has no producer in the ledger after %.0fs: stopping (was "
                    "produce_events started? its log says why not)",
                    self.ledger.run_id, self.stale_after,
                )  # fmt: skip
                return "no-producer"
            return None
        if progress.final:
            ends = {p: progress.end_offset(p) for p in self.partitions}
            left = {p: e - positions[p] for p, e in ends.items() if positions[p] < e}
            if not left:
                return f"run-{progress.state}"
            if idle_seconds > self.idle_timeout:
                log.warning(
                    "run %s is %s but %s of its events were not found for %.0fs (deleted by "
                    "retention?): stopping", self.ledger.run_id, progress.state, left,
                    self.idle_timeout,
                )  # fmt: skip
                return "idle-timeout"
            return None
        if self._frozen is None and self._gone(progress):
            self._frozen = {p: e for p, e in self.high_watermarks().items() if p in self.partitions}
            log.warning(
                "the producer of run %s stopped reporting %.0fs ago (state %s, %d delivered): "
                "storing what arrived, up to offsets %s, then stopping",
                self.ledger.run_id, progress.heartbeat_age, progress.state, progress.delivered,
                self._frozen,
            )  # fmt: skip
        if self._frozen is not None:
            if all(positions[p] >= e for p, e in self._frozen.items()):
                return "producer-gone"
        return None
