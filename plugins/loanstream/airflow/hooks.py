"""Hooks: the loanstream Kafka and Postgres connections, through the providers' own hooks.

Kafka has one connection per role (admin, producer, sink, watcher: ``KAFKA_*_CONN_ID``), each
task taking its role's; the broker's ACLs let each do only its job.

``LoanstreamKafkaHook`` is the apache-kafka provider's ``KafkaBaseHook`` (connection type
*Apache Kafka*: the extra is the librdkafka config) and ``LoanstreamPostgresHook`` the postgres
provider's ``PostgresHook`` (type *Postgres*: host, port, login, password, database, and extras
such as ``sslmode`` passed to libpq). Both keep the providers' ``test_connection``, which is
what the UI's **Test** button and ``airflow connections test`` call.

A connection id that does not exist fails the task with a message naming it. Falling back to
the ``LOANSTREAM_*`` environment settings instead is an explicit choice
(``LOANSTREAM_CONNECTION_FALLBACK=env``), logged as a warning each time it is made.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from airflow.providers.apache.kafka.hooks.base import KafkaBaseHook
from airflow.providers.postgres.hooks.postgres import PostgresHook
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException
from psycopg2.extensions import make_dsn

from loanstream.config import Settings

# One Kafka connection per role, each the SCRAM login of the role's user, which may do only
# its job (loanstream.kafka.acls; `make up` provisions them):
KAFKA_ADMIN_CONN_ID = "loanstream_kafka_admin"  # topics (create_topic): a super user
KAFKA_PRODUCER_CONN_ID = "loanstream_kafka_producer"  # writes run topics, never scored-loans
KAFKA_SINK_CONN_ID = "loanstream_kafka_sink"  # reads topics, its groups; writes scored-loans
KAFKA_WATCHER_CONN_ID = "loanstream_kafka_watcher"  # reads only (AssetWatcher, the page)
KAFKA_CONN_IDS = (KAFKA_ADMIN_CONN_ID, KAFKA_PRODUCER_CONN_ID, KAFKA_SINK_CONN_ID, KAFKA_WATCHER_CONN_ID)
POSTGRES_CONN_ID = "loanstream_postgres"

FALLBACK_VARIABLE = "LOANSTREAM_CONNECTION_FALLBACK"


class MissingConnection(AirflowFailException):
    """The connection id is not defined and no fallback was chosen (no retry can fix it)."""


def _fallback_to_env(hook: Any, conn_id: str, kind: str, settings_hint: str) -> bool:
    """True if the environment may stand in for the missing connection (logged); else raise."""
    choice = Settings.from_env().connection_fallback
    if choice == "env":
        hook.log.warning(
            "Airflow connection '%s' does not exist: using %s from the environment "
            "(%s=env)", conn_id, settings_hint, FALLBACK_VARIABLE,
        )  # fmt: skip
        return True
    if choice not in ("", "none"):
        raise AirflowFailException(f"{FALLBACK_VARIABLE}={choice!r}: expected 'none' or 'env'")
    raise MissingConnection(
        f"Airflow connection '{conn_id}' does not exist. Create it (Admin > Connections, type "
        f"{kind}; `make up` creates {', '.join(KAFKA_CONN_IDS)} and {POSTGRES_CONN_ID}), fix the conn id, "
        f"or set {FALLBACK_VARIABLE}=env to use {settings_hint} from the environment."
    )


class LoanstreamKafkaHook(KafkaBaseHook):
    """The Kafka cluster of a loanstream connection (type *Apache Kafka*).

    The extra is the librdkafka config (``bootstrap.servers``, ``security.protocol``,
    ``sasl.*``, ``ssl.*`` ...); without ``bootstrap.servers`` the host and port fields are used.

    :param kafka_config_id: the Airflow connection id (default: the read-only watcher's).
    """

    default_conn_name = KAFKA_WATCHER_CONN_ID

    def __init__(self, kafka_config_id: str = KAFKA_WATCHER_CONN_ID) -> None:
        super().__init__(kafka_config_id=kafka_config_id)

    def librdkafka_config(self, *, check: bool = True) -> dict[str, Any]:
        """The connection as a plain librdkafka config dict (scalars only).

        With ``check``, a secured listener (SASL/SSL) is asked once per process and config: a
        wrong password or an untrusted certificate fails the task at once, naming the
        listener, never the secret.
        """
        try:
            conn = self.get_connection(self.kafka_config_id)
        except AirflowNotFoundException:
            _fallback_to_env(
                self, self.kafka_config_id, "Apache Kafka", "LOANSTREAM_BOOTSTRAP_SERVERS"
            )
            config: dict[str, Any] = dict(Settings.from_env().kafka_config())
        else:
            config = {
                key: value
                for key, value in conn.extra_dejson.items()
                if isinstance(value, str | int | float | bool)
            }
            if "bootstrap.servers" not in config:
                if not conn.host:
                    raise AirflowFailException(
                        f"connection '{self.kafka_config_id}' has neither host nor extra "
                        "bootstrap.servers"
                    )
                config["bootstrap.servers"] = f"{conn.host}:{conn.port or 9092}"
        if check:
            _check_access_once(self.kafka_config_id, config)
        return config

    def _build_config(self) -> dict[str, Any]:
        """What the provider's clients and ``test_connection`` use: the same config."""
        return self.librdkafka_config(check=False)


_checked: set[str] = set()


def _check_access_once(conn_id: str, config: dict[str, Any]) -> None:
    from loanstream.kafka.access import KafkaAccessError, check_access, is_secured

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


class LoanstreamPostgresHook(PostgresHook):
    """The loanstream results database (connection type *Postgres*).

    Extras that libpq understands (``sslmode``, ``sslrootcert``, ``options`` ...) are kept in
    the DSN the core modules connect with, as the provider's own ``get_conn`` passes them.

    :param postgres_conn_id: the Airflow connection id.
    """

    default_conn_name = POSTGRES_CONN_ID

    def __init__(self, postgres_conn_id: str = POSTGRES_CONN_ID, **kwargs: Any) -> None:
        super().__init__(postgres_conn_id=postgres_conn_id, **kwargs)

    def dsn(self) -> str:
        """A libpq DSN for ``loanstream.store.connect.pg_connect`` (password included, never logged)."""
        conn_id = self.get_conn_id()
        try:
            conn = self.get_connection(conn_id)
        except AirflowNotFoundException:
            _fallback_to_env(self, conn_id, "Postgres", "LOANSTREAM_PG_DSN")
            return Settings.from_env().pg_dsn
        args: dict[str, Any] = {
            "host": conn.host or "127.0.0.1",
            "port": conn.port or 5432,
            "user": conn.login or None,
            "password": conn.password or None,
            "dbname": conn.schema or "loanstream",
        }
        for key, value in conn.extra_dejson.items():
            if key not in self.ignored_extra_options and isinstance(value, str | int | float):
                args[key] = value
        return make_dsn(**{key: value for key, value in args.items() if value is not None})


def kafka_config(conn_id: str = KAFKA_WATCHER_CONN_ID, *, check: bool = True) -> dict[str, Any]:
    """The librdkafka config of a Kafka connection (``LoanstreamKafkaHook``); without a conn id,
    the read-only watcher's (what the Loanstream page reads lag with)."""
    return LoanstreamKafkaHook(conn_id).librdkafka_config(check=check)


def postgres_dsn(conn_id: str = POSTGRES_CONN_ID) -> str:
    """The libpq DSN of a Postgres connection (``LoanstreamPostgresHook``)."""
    return LoanstreamPostgresHook(conn_id).dsn()
