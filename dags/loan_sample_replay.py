"""loan_sample_replay: replay a slice of the shipped sample on a schedule, at a modest rate."""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG, Param

from loanstream.airflow.pipeline import DEFAULT_ARGS, pipeline_tasks
from loanstream.config import Settings

settings = Settings.from_env()
SCHEDULE = os.environ.get("LOANSTREAM_REPLAY_CRON", "@hourly")

DOC = f"""
### Sample replay

Replays a slice of the shipped sample (`{settings.sample_csv.name}`) through the same tasks as
`loan_stream_pipeline`, on schedule `{SCHEDULE}` (set `LOANSTREAM_REPLAY_CRON`). No catch-up,
one run at a time. Re-sent loans are upserted by loan id, so replays never duplicate rows.
Params: `slice_size` (events per run), `rate` (events/s), `skip` (first row of the slice).
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
    render_template_as_native_obj=True,
    tags=["loanstream", "kafka", "replay"],
    params={
        "slice_size": Param(500, type="integer", minimum=1, maximum=100_000, title="Slice size"),
        "rate": Param(50, type="number", minimum=1, maximum=5000, title="Rate (events/s)"),
        "skip": Param(0, type="integer", minimum=0, title="First row of the slice (0-based)"),
    },
) as dag:
    pipeline_tasks(
        csv_path=str(settings.sample_csv),
        topic=settings.topic,
        partitions=settings.partitions,
        rate="{{ params.rate }}",
        max_events="{{ params.slice_size }}",
        skip="{{ params.skip }}",
        republish=False,
    )
