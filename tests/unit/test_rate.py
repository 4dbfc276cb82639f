"""RateLimiter pacing, on a fake clock: exact schedule, no drift, catch-up after stalls."""

from __future__ import annotations

import pytest

from loanstream.produce.rate import RateLimiter

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def run(rate: float, n: int, work: float = 0.0, stall_at: int | None = None) -> FakeClock:
    clock = FakeClock()
    limiter = RateLimiter(rate, clock=clock, sleep=clock.sleep)
    limiter.start()
    for i in range(n):
        limiter.wait(i)
        clock.now += work  # time spent producing the event
        if stall_at == i:
            clock.now += 0.5  # a GC pause / slow broker ack
    limiter.finish(n)
    return clock


@pytest.mark.parametrize("rate", [1, 10, 200, 5000, 50_000])
def test_n_events_take_exactly_n_over_rate(rate: float) -> None:
    n = int(rate * 5)
    clock = run(rate, n, work=0.2 / rate)
    assert clock.now - 1000.0 == pytest.approx(n / rate, rel=1e-9)


def test_no_drift_when_each_send_costs_time() -> None:
    # The prototype slept 1/rate *after* each send, so send cost accumulated: 200 -> 147 eps.
    clock = run(200, 1000, work=0.0017)
    assert 1000 / (clock.now - 1000.0) == pytest.approx(200, rel=1e-9)


def test_stall_is_made_up_by_the_following_events() -> None:
    clock = run(100, 500, work=0.001, stall_at=10)
    assert clock.now - 1000.0 == pytest.approx(5.0, rel=1e-9)
    # after the stall, events are sent back to back (no sleep) until the schedule is met again
    assert len(clock.slept) < 500


def test_event_i_is_due_at_start_plus_i_over_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(4, clock=clock, sleep=clock.sleep)
    limiter.start()
    assert [limiter.due_at(i) - 1000.0 for i in range(5)] == [0, 0.25, 0.5, 0.75, 1.0]


def test_unthrottled_never_sleeps() -> None:
    clock = run(0, 10_000)
    assert clock.slept == []


@pytest.mark.parametrize("rate", [-1, 50_001])
def test_rate_out_of_range_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="rate must be"):
        RateLimiter(rate)
