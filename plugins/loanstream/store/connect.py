"""Clients built in one place (no Airflow): Postgres connections for the core modules.

Inside Airflow, the DSN comes from the ``loanstream_postgres`` connection
(``loanstream.airflow.hooks``); outside, from ``LOANSTREAM_PG_DSN``.
"""

from __future__ import annotations

from typing import Any

import psycopg2


def pg_connect(dsn: str, application_name: str = "loanstream") -> Any:
    """A psycopg2 connection with a connect timeout and TCP keepalives (a peer that vanished
    without a reset is noticed in ~25 s, not never). Raises ``psycopg2.OperationalError``."""
    return psycopg2.connect(
        dsn,
        connect_timeout=10,
        application_name=application_name,
        keepalives=1,
        keepalives_idle=10,
        keepalives_interval=5,
        keepalives_count=3,
    )


def first_line(exc: BaseException) -> str:
    """The first line of an error's text (libpq's messages run over several lines)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
