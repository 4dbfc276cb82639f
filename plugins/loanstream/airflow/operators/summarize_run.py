"""``SummarizeRunOperator``: a run's produced and stored counts, failing when events are missing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from loanstream.airflow.assets import RISK_DECISIONS, RISK_SCORED
from loanstream.airflow.hooks import (
    POSTGRES_CONN_ID,
    postgres_dsn,
)
from loanstream.airflow.memory import LogsPeakMemory


class SummarizeRunOperator(LogsPeakMemory, BaseOperator):
    """Produced vs scored + dead-lettered for this run, from Postgres; fails on any loss."""

    template_fields: Sequence[str] = ("produced", "consumed")

    def __init__(
        self,
        *,
        produced: Any,
        consumed: Any,
        postgres_conn_id: str = POSTGRES_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.produced = produced
        self.consumed = consumed
        self.postgres_conn_id = postgres_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from loanstream.runs.summary import RunIncompleteError, summarize_run

        run_id = str(context.get("run_id"))
        consumed = list(self.consumed or [])
        try:
            summary = summarize_run(
                postgres_dsn(self.postgres_conn_id), run_id, self.produced, consumed
            )
        except RunIncompleteError as exc:
            self.log.error("summary: %s", exc.summary)
            raise AirflowFailException(str(exc)) from None
        self.log.info(
            "run %s: produced %d, scored %d, dead-lettered %d, missing %d; bands %s; "
            "decisions %s; produce %.0f eps, consume %.0f eps; latency event_time -> stored "
            "p50 %s ms, p99 %s ms",
            run_id,
            summary["produced"],
            summary["scored"],
            summary["dead_lettered"],
            summary["missing"],
            summary["bands"],
            summary["decisions"],
            summary["produce_eps"] or 0,
            summary["consume_eps"] or 0,
            summary["latency_ms"]["p50"],
            summary["latency_ms"]["p99"],
        )
        extra = {key: summary[key] for key in ("produced", "scored", "dead_lettered", "missing")}
        context["outlet_events"][RISK_SCORED].extra = {
            "run_id": run_id,
            **extra,
            "bands": summary["bands"],
        }
        context["outlet_events"][RISK_DECISIONS].extra = {
            "run_id": run_id,
            **extra,
            "decisions": summary["decisions"],
        }
        return summary
