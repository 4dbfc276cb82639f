"""Where a batch's time goes, stage by stage: the sink's latency breakdown.

Per committed batch, in milliseconds:

- ``kafka``: from its first event's Kafka timestamp (set by the producer when it hands the
  event to its client, moments after ``event_time``) to the consumer holding the batch:
  producer batching (``linger.ms``), the broker, the fetch;
- ``to_writer``: from then until the writer starts the batch's transaction: scoring, and
  waiting for the batch before it to commit;
- ``copy``: the transaction's start until its rows are written (their ``scored_at``);
- ``commit``: the rest of the transaction: dead letters, the fenced offset move, COMMIT.

An event's latency (``scored_at - event_time``) is about kafka + to_writer + copy.
``SinkStats.stage_ms`` reports p50/p99/max of each (the CLI's JSON line, the task's XCom).
"""

from __future__ import annotations

from collections import deque

STAGES = ("kafka", "to_writer", "copy", "commit")
MAX_SAMPLES = 100_000  # per stage: the latest batches of a long run


class StageTimes:
    """Per-batch stage durations (ms) of one run, the latest ``MAX_SAMPLES`` kept."""

    def __init__(self) -> None:
        self.samples: dict[str, deque[float]] = {s: deque(maxlen=MAX_SAMPLES) for s in STAGES}

    def add(self, kafka: float, to_writer: float, copy: float, commit: float) -> None:
        for stage, ms in zip(STAGES, (kafka, to_writer, copy, commit), strict=True):
            self.samples[stage].append(ms)

    def summary(self) -> dict[str, dict[str, float]]:
        """p50/p99/max of each stage over the batches, in ms (empty before the first batch)."""
        out = {}
        for stage, values in self.samples.items():
            if values:
                ordered = sorted(values)
                out[stage] = {"p50": round(percentile(ordered, 50), 2),
                              "p99": round(percentile(ordered, 99), 2),
                              "max": round(ordered[-1], 2)}  # fmt: skip
        return out


def percentile(ordered: list[float], q: float) -> float:
    """The ``q``-th percentile of the sorted ``ordered``, linearly interpolated between the
    two nearest ranks (numpy's default), without importing numpy into the sink (0.05 s of
    each consumer process's start)."""
    position = (len(ordered) - 1) * q / 100
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)
