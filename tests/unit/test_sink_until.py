"""When a consume run is over (``loanstream.sink.until``), without a broker or a database."""

from __future__ import annotations

import pytest

from loanstream.sink.until import CaughtUp, Follow, RunEnd
from loanstream.store.ledger import RunProgress

pytestmark = pytest.mark.unit


class FakeLedger:
    """Hands out the RunProgress the test sets; counts reads."""

    run_id = "run1"

    def __init__(self, progress: RunProgress | None = None) -> None:
        self.progress = progress
        self.reads = 0

    def read(self) -> RunProgress | None:
        self.reads += 1
        return self.progress


def progress(state: str, ends: dict[int, int], age: float = 0.5) -> RunProgress:
    return RunProgress(
        run_id="run1", topic="t", state=state, delivered=sum(ends.values()),
        heartbeat_age=age, end_offsets=ends,
    )  # fmt: skip


def test_caught_up_stops_at_the_end_offsets_seen_at_start() -> None:
    until = CaughtUp({0: 10, 1: 5}, idle_timeout=30)
    assert until.limits() == {0: 10, 1: 5}
    assert until.done({0: 9, 1: 5}, idle_seconds=1) is None
    assert until.done({0: 10, 1: 5}, idle_seconds=1) == "caught-up"
    assert until.done({0: 3, 1: 5}, idle_seconds=31) == "idle-timeout"


def test_follow_never_stops_by_itself() -> None:
    assert Follow().done({0: 10**9}, idle_seconds=10**6) is None and Follow().limits() == {}


def test_run_end_waits_for_a_live_producer_however_idle() -> None:
    ledger = FakeLedger(progress("producing", {0: 100}))
    until = RunEnd(ledger, [0, 1], lambda: {0: 100, 1: 0}, refresh=0)
    # caught up with everything sent so far, idle for a long time: the producer is only slow
    assert until.done({0: 100, 1: 0}, idle_seconds=3600) is None
    assert until.limits() == {}  # no end known while the producer runs


def test_run_end_stops_once_the_runs_last_event_is_stored_on_every_partition() -> None:
    ledger = FakeLedger(progress("complete", {0: 100, 1: 40}))
    until = RunEnd(ledger, [0, 1], lambda: {}, refresh=0)
    assert until.done({0: 100, 1: 39}, idle_seconds=0) is None  # never earlier
    assert until.limits() == {0: 100, 1: 40}  # events after the run's end are left alone
    assert until.done({0: 100, 1: 40}, idle_seconds=0) == "run-complete"


def test_a_partition_the_run_never_wrote_to_is_done_at_once() -> None:
    until = RunEnd(FakeLedger(progress("complete", {0: 7})), [2], lambda: {}, refresh=0)
    assert until.done({2: 0}, idle_seconds=0) == "run-complete"


def test_a_stopped_or_failed_producer_ends_the_run_at_what_it_delivered() -> None:
    for state in ("stopped", "failed"):
        until = RunEnd(FakeLedger(progress(state, {0: 50})), [0], lambda: {}, refresh=0)
        assert until.done({0: 49}, idle_seconds=0) is None
        assert until.done({0: 50}, idle_seconds=0) == f"run-{state}"


def test_a_silent_producer_counts_as_gone_after_stale_after() -> None:
    ledger = FakeLedger(progress("producing", {0: 30}, age=61))
    until = RunEnd(ledger, [0], lambda: {0: 45, 1: 99}, stale_after=60, refresh=0)
    # what had arrived when it was declared gone (45) is stored, then the consumer stops
    assert until.done({0: 30}, idle_seconds=0) is None
    assert until.limits() == {0: 45}
    assert until.done({0: 45}, idle_seconds=0) == "producer-gone"


def test_a_pending_retry_gets_three_times_the_grace() -> None:
    ledger = FakeLedger(progress("retrying", {0: 30}, age=150))
    until = RunEnd(ledger, [0], lambda: {0: 30}, stale_after=60, refresh=0)
    assert until.done({0: 30}, idle_seconds=0) is None  # 150 s < 3 x 60 s
    ledger.progress = progress("retrying", {0: 30}, age=181)
    assert until.done({0: 30}, idle_seconds=0) == "producer-gone"


def test_events_the_ledger_promises_but_kafka_lost_end_in_an_idle_timeout() -> None:
    until = RunEnd(FakeLedger(progress("complete", {0: 10})), [0], lambda: {}, idle_timeout=5,
                   refresh=0)  # fmt: skip
    assert until.done({0: 8}, idle_seconds=6) == "idle-timeout"


def test_the_ledger_is_read_at_most_every_refresh_seconds() -> None:
    ledger = FakeLedger(progress("producing", {0: 1}))
    until = RunEnd(ledger, [0], lambda: {}, refresh=60)
    for _ in range(100):
        until.done({0: 0}, idle_seconds=0)
    assert ledger.reads == 1
