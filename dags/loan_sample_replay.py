"""loan_sample_replay: replay the shipped sample slice by slice on a schedule, at a modest rate."""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG, Param

from loanstream.airflow.params import replay_params
from loanstream.airflow.pipeline import DEFAULT_ARGS, pipeline_tasks
from loanstream.config import Settings
from loanstream.runs.params import MAX_SLICE

settings = Settings.from_env()
SCHEDULE = os.environ.get("LOANSTREAM_REPLAY_CRON", "@hourly")

DOC = f"""
### Sample replay

Replays the shipped sample (`{settings.sample_csv.name}`) through the same tasks as
`loan_stream_pipeline`, on schedule `{SCHEDULE}` (set `LOANSTREAM_REPLAY_CRON`), one slice per
run. The slice follows from the run's schedule slot (Airflow 3 gives a cron run its cron time as a
point data interval): the day's runs walk through the sample in
order (hourly: run *i* of the day sends the *i*-th twenty-fourth), so over a day the schedule
covers the whole sample. `run_params`'s log says which rows a run sends.

No catch-up, one run at a time. Re-sent loans are upserted by loan id, so replays never
duplicate rows. Params: `slice_size` (empty = the sample's share per run), `rate` (events/s),
`skip` (empty = from the schedule slot; a number replays the slice from that row, 0-based).
"""

with DAG(
    dag_id="loan_sample_replay",
    description="Scheduled replay of the shipped sample through the loan stream pipeline",
    doc_md=DOC,
    schedule=SCHEDULE,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=True,
    default_args=DEFAULT_ARGS,
    tags=["loanstream", "kafka", "replay"],
    params={
        "slice_size": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            maximum=MAX_SLICE,
            title="Slice size",
            description="Events per run; empty: the share that covers the sample in a day.",
        ),
        "rate": Param(50, type="number", minimum=1, maximum=5000, title="Rate (events/s)"),
        "skip": Param(
            None,
            type=["null", "integer"],
            minimum=0,
            title="First row of the slice (0-based)",
            description="Empty: the slice of this run's schedule slot.",
        ),
    },  # fmt: skip
) as dag:
    pipeline_tasks(
        replay_params(
            csv_path=str(settings.sample_csv),
            topic=settings.topic,
            partitions=settings.partitions,
            schedule=SCHEDULE,
        )
    )
