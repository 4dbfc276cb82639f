"""The redrive operator: ``loanstream.sink.redrive.redrive`` in a task (DAG dead_letter_redrive)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from loanstream.airflow.hooks import POSTGRES_CONN_ID, postgres_dsn
from loanstream.airflow.memory import LogsPeakMemory
from loanstream.config import Settings


class RedriveDeadLettersOperator(LogsPeakMemory, BaseOperator):
    """Score the open dead letters matching ``run_id`` / ``reason`` again; counts to XCom.

    :param run_id: only this pipeline run's dead letters ("" = any run).
    :param reason: only those whose error contains this text, case-insensitive ("" = any).
    :param limit: most dead letters in this redrive.
    :param postgres_conn_id: Airflow connection of the loanstream database.
    """

    template_fields: Sequence[str] = ("run_id_filter", "reason", "limit")

    def __init__(
        self,
        *,
        run_id_filter: str | None = None,
        reason: str | None = None,
        limit: int | str = 10_000,
        postgres_conn_id: str = POSTGRES_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.run_id_filter = run_id_filter
        self.reason = reason
        self.limit = limit
        self.postgres_conn_id = postgres_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from loanstream.sink.redrive import RedriveError, Selection, redrive
        from loanstream.store.connect import pg_connect
        from loanstream.store.migrations import SchemaBehindError, check

        try:
            selection = Selection.of(self.run_id_filter, self.reason, None, int(self.limit))
        except (RedriveError, ValueError) as exc:
            raise AirflowFailException(f"{exc}. Nothing was selected.") from None
        dsn = postgres_dsn(self.postgres_conn_id)
        conn = pg_connect(dsn, "loanstream-redrive")
        try:
            check(conn, Settings.from_env().migrations_dir)
        except SchemaBehindError as exc:
            raise AirflowFailException(f"{exc}. Nothing was redriven.") from None
        finally:
            conn.close()
        self.log.info(
            "redriving open dead letters of run %r with errors containing %r (at most %d)",
            selection.run_id or "(any)", selection.reason or "(any)", selection.limit,
        )  # fmt: skip
        # who: the user who triggered this run (Airflow's audit log holds the trigger itself)
        dag_run = context.get("dag_run")
        user = getattr(dag_run, "triggering_user_name", None) or "scheduler"
        result = redrive(
            lambda: pg_connect(dsn, "loanstream-redrive"),
            selection,
            redrive_id=f"dag:{context.get('run_id')}",
            resolved_by=f"{user} (dag run {context.get('run_id')})",
            progress=lambda r: self.log.info("%s", r.human_line()),
        )
        self.log.info("%s", result.human_line())
        if result.still_failing:
            self.log.warning(
                "%d dead letters still fail (%s): fix the parser or the rules, then run this "
                "DAG again; they stay in dead_letters with the new error",
                result.still_failing, dict(result.errors.most_common(5)),
            )  # fmt: skip
        return result.to_dict()
