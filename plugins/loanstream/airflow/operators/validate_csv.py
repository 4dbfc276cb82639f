"""``ValidateCsvOperator``: check a loan CSV with Great Expectations before anything is produced."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from loanstream.airflow.memory import LogsPeakMemory
from loanstream.airflow.operators.common import open_csv_or_fail
from loanstream.config import Settings


def _failed_check(item: dict[str, Any]) -> str:
    """``loan_amnt_positive on loan_amnt: 3 rows`` for one failed expectation."""
    column = f" on {item['column']}" if item.get("column") else ""
    return f"{item.get('check') or item.get('expectation')}{column}: {item.get('unexpected_count')} rows"


class ValidateCsvOperator(LogsPeakMemory, BaseOperator):
    """Validate a loan CSV with Great Expectations; failure stops the run without retries.

    The file is opened once and every pass reads that descriptor; the XCom carries its SHA-256
    and size, which ``produce_events`` checks (``validated``) before sending anything.

    :param csv_path: the CSV to validate (inside the data directories).
    :param chunk_rows: rows per chunk the suite runs on.
    """

    template_fields: Sequence[str] = ("csv_path",)

    def __init__(self, *, csv_path: str, chunk_rows: int = 200_000, **kwargs: Any) -> None:
        kwargs.setdefault("retries", 0)
        super().__init__(**kwargs)
        self.csv_path = csv_path
        self.chunk_rows = chunk_rows

    def execute(self, context: Context) -> dict[str, Any]:
        from loanstream.validation import CsvReadError, validate_csv

        run_id = str(context.get("run_id") or "manual")
        try:
            with open_csv_or_fail(self.csv_path) as csv_file:
                result = validate_csv(
                    csv_file,
                    chunk_rows=self.chunk_rows,
                    report_dir=Settings.from_env().reports_dir,
                    run_id=run_id.replace(":", "_").replace("+", "_"),
                )
        except CsvReadError as exc:
            raise AirflowFailException(
                f"cannot read {self.csv_path}: {exc}. Nothing was produced. Fix the file (or the "
                "csv_path param) and trigger a new run."
            ) from None
        for line in result.summary_lines():
            (self.log.info if result.success else self.log.error)("%s", line)
        if not result.success:
            raise AirflowFailException(
                f"validation of {self.csv_path} failed: {len(result.failed)} critical "
                f"expectation(s) ({', '.join(_failed_check(f) for f in result.failed)}); "
                f"report: {result.report}. Nothing was produced."
            )
        return result.to_dict()
