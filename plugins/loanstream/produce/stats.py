"""What a produce run did: counts, rates, rejections, skipped lines and dropped columns.

``ProduceStats.to_dict()`` is the CLI's JSON line and the task's XCom value (the run summary
reads it); ``counts()`` is what the run ledger keeps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from loanstream.lendingclub.lines import SkippedLines

DROPPED_NAMED_IN_LOG = 10  # the task log names this many dropped columns; the JSON has all


@dataclass
class ProduceStats:
    """What a produce run did; ``to_dict()`` is the CLI's JSON line and the XCom value."""

    topic: str
    target_rate: float
    run_id: str
    source_file: str
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    rejected: int = 0
    seconds: float = 0.0  # sending: first event to the end of the last one's slot
    delivery_seconds: float = 0.0  # sending plus the final flush of delivery reports
    per_partition: dict[int, int] = field(default_factory=dict)
    first_errors: list[str] = field(default_factory=list)
    rejections: list[dict[str, Any]] = field(default_factory=list)
    interrupted: bool = False
    waited_for_consumers_seconds: float = 0.0
    # LendingClub's non-loan lines skipped (banner, section titles, totals, blank lines)
    skipped_lines: SkippedLines = field(default_factory=SkippedLines)
    # the value schema events were framed with: subject, id, contract name and version
    value_schema: dict[str, Any] = field(default_factory=dict)
    # columns of the file outside the contract, never forwarded: column -> rows with a value
    dropped_columns: dict[str, int] = field(default_factory=dict)

    @property
    def eps(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    def add_dropped(self, counts: dict[str, int]) -> None:
        """Count a batch's dropped columns (``EventBatch.dropped``)."""
        for name, n in counts.items():
            self.dropped_columns[name] = self.dropped_columns.get(name, 0) + n

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["eps"] = round(self.eps, 2)
        data["seconds"] = round(self.seconds, 3)
        data["delivery_seconds"] = round(self.delivery_seconds, 3)
        data["waited_for_consumers_seconds"] = round(self.waited_for_consumers_seconds, 3)
        data["per_partition"] = {str(p): n for p, n in sorted(self.per_partition.items())}
        data["skipped_lines"] = self.skipped_lines.to_dict()
        data["dropped_columns"] = dict(sorted(self.dropped_columns.items()))
        return data

    def counts(self) -> dict[str, int]:
        """The counts the run ledger keeps."""
        return {
            "sent": self.sent,
            "delivered": self.delivered,
            "failed": self.failed,
            "rejected": self.rejected,
        }

    def human_line(self) -> str:
        return (
            f"Sent {self.sent} events to topic '{self.topic}' in {self.seconds:.2f}s "
            f"(~{self.eps:.0f} eps)"
        )

    def dropped_line(self) -> str | None:
        """The task log's line on the columns left out (None when none had a value)."""
        if not self.dropped_columns:
            return None
        ranked = sorted(self.dropped_columns.items(), key=lambda item: (-item[1], item[0]))
        named = ", ".join(f"{name} ({n})" for name, n in ranked[:DROPPED_NAMED_IN_LOG])
        more = len(ranked) - DROPPED_NAMED_IN_LOG
        return (
            f"dropped {len(ranked)} columns outside the {self.value_schema.get('contract', '')} "
            f"contract, never forwarded (rows with a value): {named}"
            + (f" and {more} more (all in the task's XCom, `dropped_columns`)" if more > 0 else "")
            + "; the contract's fields are in docs/EVENTS.md"
        )
