"""What several operators share: a CSV path checked against the data directories, the run's
ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from loanstream.airflow.hooks import postgres_dsn


def data_file_or_fail(csv_path: str) -> Path:
    """The resolved ``csv_path`` if it is a CSV in the data directories; else the task fails."""
    from loanstream.paths import PathNotAllowed, data_file

    try:
        return data_file(csv_path)
    except PathNotAllowed as exc:
        raise AirflowFailException(f"{exc}. Nothing was read.") from None


def run_ledger(postgres_conn_id: str, run_id: str, topic: str) -> Any:
    """The run's ledger in the loanstream database (``loanstream.store.ledger``)."""
    from loanstream.store.connect import pg_connect
    from loanstream.store.ledger import RunLedger

    dsn = postgres_dsn(postgres_conn_id)
    return RunLedger(lambda: pg_connect(dsn, "loanstream-ledger"), run_id, topic)
