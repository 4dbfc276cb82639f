"""Kafka and Postgres settings from Airflow connections, falling back to the environment."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from loanstream.config import Settings

log = logging.getLogger(__name__)

KAFKA_CONN_ID = "loanstream_kafka"
POSTGRES_CONN_ID = "loanstream_postgres"


def kafka_config(conn_id: str = KAFKA_CONN_ID) -> dict[str, Any]:
    """librdkafka config from the connection's extra (apache-kafka provider style).

    Any SASL/TLS keys in the extra (``security.protocol``, ``sasl.*``, ``ssl.*``) pass through.
    Without the connection, ``LOANSTREAM_BOOTSTRAP_SERVERS`` and friends are used.
    """
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        log.info("no Airflow connection '%s': Kafka settings from the environment", conn_id)
        return Settings.from_env().kafka_config()
    config = {k: v for k, v in conn.extra_dejson.items() if isinstance(v, str | int | float | bool)}
    if "bootstrap.servers" not in config:
        if not conn.host:
            raise ValueError(f"connection '{conn_id}' has neither host nor extra bootstrap.servers")
        config["bootstrap.servers"] = f"{conn.host}:{conn.port or 9092}"
    return config


def postgres_dsn(conn_id: str = POSTGRES_CONN_ID) -> str:
    """A libpq DSN from the connection (password included, never logged)."""
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        log.info("no Airflow connection '%s': Postgres DSN from LOANSTREAM_PG_DSN", conn_id)
        return Settings.from_env().pg_dsn
    auth = quote(conn.login or "", safe="")
    if conn.password:
        auth += ":" + quote(conn.password, safe="")
    host = f"{conn.host or '127.0.0.1'}:{conn.port or 5432}"
    return f"postgresql://{auth + '@' if auth else ''}{host}/{conn.schema or 'loanstream'}"
