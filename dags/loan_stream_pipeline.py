"""loan_stream_pipeline: CSV -> validated -> Kafka -> scored exactly once into Postgres."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param

from loanstream.airflow.params import trigger_params
from loanstream.airflow.pipeline import DEFAULT_ARGS, pipeline_tasks
from loanstream.config import Settings
from loanstream.paths import allowed_dirs, data_csvs
from loanstream.produce.rate import MAX_RATE
from loanstream.runs.params import MAX_PARTITIONS, MIN_PARTITIONS, MIN_RATE, TOPIC_PATTERN

settings = Settings.from_env()

DOC = """
### Loan stream pipeline

Streams a LendingClub-format CSV of loan applications through Kafka and scores every
application into Postgres `risk_scored`, exactly once.

`run_params` → `validate_csv` → `create_topic` → `produce_events` ‖ (`wait_for_events` →
`score_events`, one task per partition) → `summarize`

The producer and the consumers run **at the same time**: rows land in `risk_scored` while the
file is still streaming (typically within tens of milliseconds of their `event_time`). Each
`score_events` task ends once the run's last event on its partition is stored; the run ledger
(`run_ledger` in Postgres) tells it where that is.

* **Trigger** with the form (Trigger ▸ params): CSV path, rate, event cap, topic,
  partitions, republish to `scored-loans`. Bad params are refused before any task runs.
* **`validate_csv` failed**: the file broke a critical expectation and nothing was produced.
  Its log lists each failed expectation with row numbers and the HTML report's path.
* **`produce_events` / `score_events` failed after retries**: Kafka or Postgres was down.
  Fix it (`make status`, `.local/logs/`), then clear `produce_events` and `wait_for_events`
  with their downstream tasks (the producer and the consumers run again side by side): the
  sink resumes from the offsets stored in Postgres, and re-sent loans are upserted by loan id,
  so nothing is scored twice. If the producer stops or fails, the consumers store what
  arrived and end; their log says so.
* **`dag.test()`** runs one task at a time, so the producer cannot wait for its consumers:
  set `LOANSTREAM_WAIT_FOR_CONSUMERS_SECONDS=0` (the consumers then catch up after it).
* **`wait_for_events` skipped**: the run delivered no event (its log says why); nothing to score.
* **`summarize` failed**: events are neither scored nor dead-lettered; its log says how many.
"""

with DAG(
    dag_id="loan_stream_pipeline",
    description="Validate a loan CSV, stream it through Kafka, score it into Postgres",
    doc_md=DOC,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["loanstream", "kafka", "credit-risk"],
    params={
        "csv_path": Param(
            str(settings.sample_csv),
            type="string",
            minLength=1,
            title="CSV path",
            description=(
                "LendingClub-format .csv inside the data directories "
                f"({', '.join(str(d) for d in allowed_dirs())}; LOANSTREAM_DATA_DIRS): put new "
                "files in the landing directory. Any other path is refused before it is read. "
                "The list shows the CSVs there when the Dag was parsed."
            ),
            examples=data_csvs(),
        ),
        "rate": Param(
            1000,
            type="number",
            minimum=MIN_RATE,
            maximum=MAX_RATE,
            title="Rate (events/s)",
            description="Target production rate; 0 = as fast as the machine allows.",
        ),
        "max_events": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            title="Max events",
            description="Stop after this many events (empty = the whole file).",
        ),
        "topic": Param(
            settings.topic,
            type="string",
            pattern=TOPIC_PATTERN,
            title="Topic",
            description="Kafka topic for the events (letters, digits, '.', '_', '-': '2024' is "
            "a topic name too; not the scored topic, not starting with '_' or '-', and within "
            "LOANSTREAM_TOPIC_PATTERN).",
        ),
        "partitions": Param(
            settings.partitions,
            type="integer",
            minimum=MIN_PARTITIONS,
            maximum=MAX_PARTITIONS,
            title="Partitions",
            description="Partition count (an existing topic must already have it).",
        ),
        "republish": Param(
            False,
            type="boolean",
            title="Republish to scored-loans",
            description="Also produce each scored event to the scored-loans topic.",
        ),
    },
) as dag:
    pipeline_tasks(trigger_params())
