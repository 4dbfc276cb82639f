"""Kafka and Postgres settings from Airflow connections, falling back to the environment."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from loanstream.config import Settings

log = logging.getLogger(__name__)

KAFKA_CONN_ID = "loanstream_kafka"
POSTGRES_CONN_ID = "loanstream_postgres"


def kafka_config(conn_id: str = KAFKA_CONN_ID, *, check: bool = True) -> dict[str, Any]:
    """librdkafka config from the connection's extra (apache-kafka provider style).

    Any SASL/TLS keys in the extra (``security.protocol``, ``sasl.*``, ``ssl.*``) pass through.
    Without the connection, ``LOANSTREAM_BOOTSTRAP_SERVERS`` and friends are used.

    With ``check`` (the default), a secured listener (SASL/SSL) is asked once per process
    and config (``loanstream.kafka_access``): a wrong password or an untrusted certificate
    fails the task at once (no retry can fix it), naming the listener and never the secret.
    """
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        log.info("no Airflow connection '%s': Kafka settings from the environment", conn_id)
        config = Settings.from_env().kafka_config()
    else:
        config = {
            k: v for k, v in conn.extra_dejson.items() if isinstance(v, str | int | float | bool)
        }
        if "bootstrap.servers" not in config:
            if not conn.host:
                raise ValueError(
                    f"connection '{conn_id}' has neither host nor extra bootstrap.servers"
                )
            config["bootstrap.servers"] = f"{conn.host}:{conn.port or 9092}"
    if check:
        _check_once(conn_id, config)
    return config


_checked: set[str] = set()


def _check_once(conn_id: str, config: dict[str, Any]) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from loanstream.kafka_access import KafkaAccessError, check_access, is_secured

    if not is_secured(config):
        return
    key = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()
    if key in _checked:
        return
    try:
        check_access(config)
    except KafkaAccessError as exc:
        raise AirflowFailException(f"Kafka connection '{conn_id}': {exc}") from None
    _checked.add(key)


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
