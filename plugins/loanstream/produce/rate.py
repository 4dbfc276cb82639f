"""``RateLimiter``: pace events to a target rate on an absolute schedule, without drift."""

from __future__ import annotations

import time
from collections.abc import Callable

MAX_RATE = 50_000.0


class RateLimiter:
    """Hold ``rate`` events per second.

    Event *i* (0-based) is due at ``start + i / rate``. Because the schedule is absolute, time
    lost in one step (a slow ``produce``, a GC pause, a coarse ``sleep``) is made up by the next
    ones instead of accumulating, which is what made the prototype's sleep-after-each-send loop
    reach 147 of 200 events/s. ``rate == 0`` means unthrottled. ``finish(n)`` waits out the
    last event's slot, so ``n`` events take ``n / rate`` seconds.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate < 0 or rate > MAX_RATE:
            raise ValueError(
                f"rate must be 0 (unthrottled) or up to {MAX_RATE:g} events/s, got {rate}"
            )
        self.rate = float(rate)
        self._clock = clock
        self._sleep = sleep
        self._start: float | None = None

    @property
    def started_at(self) -> float | None:
        return self._start

    def start(self) -> float:
        """Start the schedule now (called implicitly by the first ``wait``)."""
        self._start = self._clock()
        return self._start

    def resume_at(self, index: int) -> None:
        """Shift the schedule so event ``index`` is due now (after a pause that should not be
        made up by a burst)."""
        self._start = self._clock() - (index / self.rate if self.rate else 0.0)

    def due_at(self, index: int) -> float:
        """When event ``index`` is due, on this limiter's clock."""
        if self._start is None:
            self.start()
        assert self._start is not None
        return self._start if self.rate == 0 else self._start + index / self.rate

    def wait(self, index: int) -> float:
        """Block until event ``index`` is due; returns the seconds slept."""
        if self.rate == 0:
            if self._start is None:
                self.start()
            return 0.0
        delay = self.due_at(index) - self._clock()
        if delay > 0:
            self._sleep(delay)
            return delay
        return 0.0

    def finish(self, count: int) -> float:
        """Wait until ``count`` events' worth of time has passed; returns the seconds slept."""
        return self.wait(count) if count else 0.0

    def elapsed(self) -> float:
        return 0.0 if self._start is None else self._clock() - self._start
