"""The AssetWatcher's message filter: ``unscored_event`` (``loanstream.runs.watch.WakeFilter``).

Named by import path in ``loan_stream_watcher``'s ``MessageQueueTrigger`` and run by the
triggerer on each event it polls from the topic (consumer group ``LOANSTREAM_WATCH_GROUP``,
from the ``loanstream_kafka_watcher`` connection). It reads the stored offsets and the run
ledger through the ``loanstream_postgres`` connection: one connection for the triggerer's
lifetime (opened again after an error), and at most ``LOANSTREAM_WATCH_CACHE_SIZE`` run ids
remembered.
"""

from __future__ import annotations

from typing import Any

from loanstream.airflow.hooks import KAFKA_WATCHER_CONN_ID, postgres_dsn
from loanstream.config import Settings
from loanstream.runs.watch import MAX_RUN_ID, WakeFilter
from loanstream.store.connect import pg_connect

WATCHER_CONN_ID = KAFKA_WATCHER_CONN_ID  # the read-only role (loanstream.kafka.acls)

_filter: WakeFilter | None = None


def _wake_filter() -> WakeFilter:
    global _filter
    if _filter is None:
        dsn = postgres_dsn()
        settings = Settings.from_env()
        _filter = WakeFilter(
            lambda: pg_connect(dsn, "loanstream-watcher"),
            settings.consumer_group,
            cache_size=settings.watch_cache_size,
        )
    return _filter


def unscored_event(message: Any) -> dict | None:
    """A wake-up for an event nobody will score yet, else None (the trigger goes on polling)."""
    headers = dict(message.headers() or [])
    raw_run_id = headers.get("run_id") or b""
    # cut before decoding: a header may be as long as the broker lets a message be
    raw_run_id = raw_run_id[: 4 * MAX_RUN_ID] if isinstance(raw_run_id, bytes) else None
    run_id = raw_run_id.decode("utf-8", "replace") if raw_run_id is not None else None
    return _wake_filter().wake(message.topic(), message.partition(), message.offset(), run_id)
