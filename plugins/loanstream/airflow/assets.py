"""The pipeline's assets: the events topic and the two result tables, named once.

* a topic is ``kafka://<first bootstrap server>/<topic>`` (the apache-kafka provider's
  scheme). The server is ``LOANSTREAM_BOOTSTRAP_SERVERS``' first entry: the cluster's name,
  the same for the producer's events and the watcher DAG, whatever listener a connection uses.
  The trigger form picks the topic, so ``produce_events`` declares the alias
  ``TOPIC_ALIAS`` and attaches the run's topic to it when it runs;
* ``risk_scored`` and ``risk_decisions`` are ``postgres://host:port/db/public/<table>``
  (the postgres provider's scheme), from ``LOANSTREAM_PG_DSN``.

Asset events carry the run's counts in their extra.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset, AssetAlias
from psycopg2.extensions import parse_dsn

from loanstream.config import Settings

TOPIC_ALIAS = AssetAlias("loanstream_events_topic")


def kafka_topic_uri(topic: str, settings: Settings | None = None) -> str:
    settings = settings or Settings.from_env()
    server = settings.bootstrap_servers.split(",")[0].strip()
    return f"kafka://{server}/{topic}"


def kafka_topic_asset(topic: str, **kwargs: Any) -> Asset:
    """The Kafka topic as an asset (name = URI, so the alias and the watcher DAG agree)."""
    uri = kafka_topic_uri(topic)
    return Asset(name=uri, uri=uri, group="kafka", **kwargs)


def _table_asset(table: str) -> Asset:
    dsn = parse_dsn(Settings.from_env().pg_dsn)
    where = f"{dsn.get('host', '127.0.0.1')}:{dsn.get('port', '5432')}/{dsn.get('dbname', 'loanstream')}"
    return Asset(name=table, uri=f"postgres://{where}/public/{table}", group="loanstream")


RISK_SCORED = _table_asset("risk_scored")
RISK_DECISIONS = _table_asset("risk_decisions")
