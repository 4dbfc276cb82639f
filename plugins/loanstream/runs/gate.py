"""The consumer gate of a pipeline run: open once the run's first event has landed.

``check_gate`` reads the run ledger (did the run's producer deliver anything, is it over) and
the lag from Postgres offsets; it never consumes. The sensor and its trigger ask it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loanstream.runs.lag import LagError, stored_lag
from loanstream.store.connect import pg_connect
from loanstream.store.ledger import LedgerError, RunLedger


@dataclass(frozen=True)
class Gate:
    """``status``: ``open`` (consumers should start), ``wait`` or ``empty`` (the run is over
    and delivered nothing: nothing to consume)."""

    status: str
    lag: dict[int, int] = field(default_factory=dict)
    delivered: int = 0
    run_state: str | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "lag": {str(p): n for p, n in sorted(self.lag.items())},
            "waiting": sum(self.lag.values()),
            "delivered": self.delivered,
            "run_state": self.run_state,
            "detail": self.detail,
        }


def check_gate(
    kafka_config: dict[str, Any], pg_dsn: str, topic: str, group: str, run_id: str
) -> Gate:
    """Open when the run delivered an event or events wait in Postgres terms; ``empty`` when
    the run ended without delivering any. Raises ``LagError`` if Kafka or Postgres is down."""
    lag = stored_lag(kafka_config, pg_dsn, topic, group)
    ledger = RunLedger(lambda: pg_connect(pg_dsn, "loanstream-gate"), run_id, topic)
    try:
        progress = ledger.read()
    except LedgerError as exc:
        raise LagError(str(exc)) from None
    finally:
        ledger.close()
    if progress is None:
        if sum(lag.values()):
            return Gate("open", lag, detail="events wait; the run's producer has not reported yet")
        return Gate("wait", lag, detail="the run's producer has not started")
    if progress.delivered or sum(lag.values()):
        return Gate("open", lag, progress.delivered, progress.state)
    if progress.final:
        why = f": {progress.message}" if progress.message else ""
        return Gate(
            "empty", lag, 0, progress.state,
            f"the run's producer ended ({progress.state}{why}) after sending {progress.sent} "
            f"events, {progress.rejected} rows rejected, none delivered",
        )  # fmt: skip
    return Gate("wait", lag, 0, progress.state, "the run's producer has delivered nothing yet")
