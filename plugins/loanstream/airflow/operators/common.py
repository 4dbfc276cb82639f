"""What several operators share: a CSV path checked against the data directories and opened
once, the run's ledger."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from loanstream.airflow.hooks import postgres_dsn

if TYPE_CHECKING:
    from loanstream.paths import CsvFile


def open_csv_or_fail(csv_path: str) -> CsvFile:
    """``csv_path`` checked and opened once (``loanstream.paths.open_data_csv``: no symlink
    swapped in, no FIFO, its real location in the data directories); else the task fails."""
    from loanstream.paths import CsvOpenError, PathNotAllowed, open_data_csv

    try:
        return open_data_csv(csv_path)
    except (PathNotAllowed, CsvOpenError) as exc:
        raise AirflowFailException(f"{exc}. Nothing was read.") from None


def run_ledger(postgres_conn_id: str, run_id: str, topic: str) -> Any:
    """The run's ledger in the loanstream database (``loanstream.store.ledger``)."""
    from loanstream.store.connect import pg_connect
    from loanstream.store.ledger import RunLedger

    dsn = postgres_dsn(postgres_conn_id)
    return RunLedger(lambda: pg_connect(dsn, "loanstream-ledger"), run_id, topic)
