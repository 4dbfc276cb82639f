"""dead_letter_redrive: score dead letters again with today's code and rules, exactly once."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from loanstream.airflow.operators.redrive import RedriveDeadLettersOperator

DOC = """
### Dead-letter redrive

Scores the open dead letters again, with the code and rules deployed now (after a parser or
rules fix). One that now scores moves to `risk_scored` / `risk_decisions` and is marked
resolved in the same transaction; one that still fails keeps its row with the new error.
Never scored twice, even if this DAG is killed and run again (rows are locked per batch).

Params (blank = no filter): `run_id` (a pipeline run's id), `reason` (part of the error,
case-insensitive), `limit`. The same as `loanstream dead-letters replay --run-id R --reason T`.
Counts are in the log and the XCom. The Loanstream page (`/loanstream`) shows the dead letters.
"""

with DAG(
    dag_id="dead_letter_redrive",
    description="Score dead letters again (after a parser or rules fix), exactly once",
    doc_md=DOC,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "loanstream", "retries": 2, "retry_delay": timedelta(seconds=10)},
    tags=["loanstream", "dead-letters"],
    # templates render as text: a run id such as "2024" stays a string
    params={
        "run_id": Param("", type="string", maxLength=250, title="Run id",
                        description="Only this pipeline run's dead letters (blank: any run)"),
        "reason": Param("", type="string", maxLength=200, title="Error contains",
                        description="Only dead letters whose error contains this text "
                        "(case-insensitive; blank: any)"),
        "limit": Param(10_000, type="integer", minimum=1, maximum=1_000_000,
                       title="Most dead letters"),
    },  # fmt: skip
) as dag:
    RedriveDeadLettersOperator(
        task_id="redrive",
        run_id_filter="{{ params.run_id }}",
        reason="{{ params.reason }}",
        limit="{{ params.limit }}",
        doc_md="Scores the selected dead letters again; counts (resolved, still failing, by "
        "reason) in the log and the XCom.",
    )
