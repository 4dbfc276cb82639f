"""What a consume run did: ``SinkStats.to_dict()`` is the CLI's JSON line and the XCom value."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class SinkStats:
    """Counts of one consume run; a batch is counted only after its transaction committed."""

    topic: str
    group: str
    partitions: list[int] = field(default_factory=list)
    consumed: int = 0
    scored: int = 0
    stored: int = 0  # decisions written to risk_decisions
    already_decided: int = 0  # scored events whose source position held a decision already
    dead_lettered: int = 0
    skipped_already_stored: int = 0
    republished: int = 0
    scored_natively: int = 0
    batches: int = 0
    seconds: float = 0.0
    bands: dict[str, int] = field(default_factory=dict)
    decisions: dict[str, int] = field(default_factory=dict)
    next_offsets: dict[int, int] = field(default_factory=dict)
    end_offsets: dict[int, int] = field(default_factory=dict)
    run_id: str | None = None
    waited_for_lease_seconds: float = 0.0
    stopped_by: str = ""
    stage_ms: dict[str, dict[str, float]] = field(default_factory=dict)  # sink.timings

    @property
    def eps(self) -> float:
        return self.consumed / self.seconds if self.seconds > 0 else 0.0

    def count_batch(
        self,
        *,
        end: dict[int, int],
        scored: int,
        stored: int,
        scored_natively: int,
        dead_lettered: int,
        republished: int,
        bands: Counter,
        decisions: Counter,
    ) -> None:
        """Add one committed batch."""
        self.next_offsets.update(end)
        self.scored += scored
        self.stored += stored
        self.already_decided += scored - stored
        self.scored_natively += scored_natively
        self.dead_lettered += dead_lettered
        self.republished += republished
        self.batches += 1
        for band, n in bands.items():
            self.bands[band] = self.bands.get(band, 0) + n
        for decision, n in decisions.items():
            self.decisions[decision] = self.decisions.get(decision, 0) + n

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["eps"] = round(self.eps, 2)
        data["seconds"] = round(self.seconds, 3)
        data["waited_for_lease_seconds"] = round(self.waited_for_lease_seconds, 3)
        data["next_offsets"] = {str(k): v for k, v in sorted(self.next_offsets.items())}
        data["end_offsets"] = {str(k): v for k, v in sorted(self.end_offsets.items())}
        return data
