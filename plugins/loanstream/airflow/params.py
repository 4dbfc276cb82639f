"""The head task of each pipeline run: its parameters checked and typed, once.

The other tasks take the values as XComArgs (``params["topic"]`` ...), so they arrive with
their types: no Jinja rendering, no ``literal_eval`` turning a topic named ``2024`` into an int.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow.sdk import task
from airflow.sdk.exceptions import AirflowFailException

from loanstream.paths import CsvOpenError
from loanstream.runs.params import RunParamError, count_data_rows, replay_slice, run_params

log = logging.getLogger(__name__)


def _checked(raw: dict[str, Any]) -> dict[str, Any]:
    try:
        params = run_params(raw)
    except RunParamError as exc:
        raise AirflowFailException(f"bad run parameter: {exc}. Nothing was read or sent.") from None
    log.info("run parameters: %s", params.to_dict())
    return params.to_dict()


@task(task_id="run_params", multiple_outputs=True, retries=0)
def trigger_params(**context: Any) -> dict[str, Any]:
    """The trigger form's values (``params``), checked and typed."""
    return _checked(dict(context["params"]))


@task(task_id="run_params", multiple_outputs=True, retries=0)
def replay_params(
    csv_path: str, topic: str, partitions: int, schedule: str, **context: Any
) -> dict[str, Any]:
    """A scheduled replay's slice from its schedule slot; a ``skip`` param picks one by hand."""
    form = context["params"]
    size = form.get("slice_size")
    if form.get("skip") is not None:
        skip, how = form["skip"], "chosen by the skip param"
        size = size or 500
    else:
        when = (
            context.get("data_interval_start")
            or context.get("logical_date")
            or getattr(context.get("dag_run"), "run_after", None)
            or datetime.now(UTC)
        )
        try:
            chosen = replay_slice(when, schedule, count_data_rows(Path(csv_path)), size)
        except (RunParamError, CsvOpenError) as exc:
            raise AirflowFailException(f"cannot choose the replay slice: {exc}") from None
        skip, size = chosen.skip, chosen.size
        how = (
            f"slot {chosen.index + 1} of {chosen.slots} of the day ({schedule} slot from "
            f"{chosen.slot_start.isoformat()})"
        )
    log.info("replaying rows %d-%d of %s: %s", skip + 1, skip + size, Path(csv_path).name, how)
    return _checked(
        {"csv_path": csv_path, "topic": topic, "partitions": partitions, "rate": form["rate"],
         "max_events": size, "skip": skip, "republish": False}
    )  # fmt: skip
