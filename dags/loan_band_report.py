"""loan_band_report: an example Dag scheduled on the ``risk_scored`` asset."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from airflow.sdk import dag, task

from loanstream.airflow.assets import RISK_SCORED
from loanstream.airflow.hooks import postgres_dsn
from loanstream.runs.band_report import write_band_reports

log = logging.getLogger(__name__)

DOC = """
### Band report (example of an asset-scheduled Dag)

Runs whenever a pipeline run updated the **`risk_scored`** asset (its `summarize` task emits
the asset event, with the run's counts in the event's extra), and writes one row per run to
`band_reports`: loans scored and the mix of risk bands and decisions.

Copy it to hang your own work off scored loans: `schedule=[RISK_SCORED]`, then read
`triggering_asset_events` for the runs to handle.
"""


@dag(
    dag_id="loan_band_report",
    description="Per-run risk band report, scheduled on the risk_scored asset",
    doc_md=DOC,
    schedule=[RISK_SCORED],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "loanstream", "retries": 1},
    tags=["loanstream", "example", "assets"],
)
def loan_band_report() -> None:
    @task(inlets=[RISK_SCORED])
    def report_bands(**context: Any) -> list[dict[str, Any]]:
        """One `band_reports` row per pipeline run that triggered this one."""
        events = context["triggering_asset_events"][RISK_SCORED]
        run_ids = [e.extra["run_id"] for e in events if (e.extra or {}).get("run_id")]
        reports = write_band_reports(postgres_dsn(), run_ids)
        for report in reports:
            log.info(
                "run %s: %d loans scored; bands %s; decisions %s",
                report["run_id"], report["scored"], report["bands"], report["decisions"],
            )  # fmt: skip
        log.info("%d asset event(s), %d run report(s) written to band_reports",
                 len(events), len(reports))  # fmt: skip
        return reports

    report_bands()


loan_band_report()
