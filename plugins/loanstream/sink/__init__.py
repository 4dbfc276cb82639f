"""Exactly-once sink: Kafka events scored into Postgres ``risk_decisions``, in parts.
May import: scoring, kafka, store, contract.

``app`` (the run loop, ``ScoringSink``), ``consumer`` (its settings, natural batching),
``until`` (when a run is over), ``scorer`` (batches scored natively or in Python, dead
letters), ``schema_ids`` (which schema ids of framed events are the contract's, each resolved
once), ``writer`` (the one transaction per batch), ``offsets`` (stored offsets, the fence,
partition leases), ``republisher`` (framed ``risk_decision`` events), ``stats`` and ``rows``
(what a decision row is), and ``redrive`` (dead letters scored again). See ``app`` for
how exactly-once holds."""

from loanstream.sink.app import ScoringSink, pg_connect
from loanstream.sink.errors import FencedError, SinkError
from loanstream.sink.rows import ROW_COLUMNS, csv_lines, score_message
from loanstream.sink.stats import SinkStats
from loanstream.sink.writer import COPY_SQL

__all__ = [
    "COPY_SQL",
    "ROW_COLUMNS",
    "FencedError",
    "ScoringSink",
    "SinkError",
    "SinkStats",
    "csv_lines",
    "pg_connect",
    "score_message",
]
