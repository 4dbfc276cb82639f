"""Which events wake the watcher Dag (``loan_stream_watcher``): the ones nobody will score.

The AssetWatcher on the events topic polls it with its own consumer group (never the sink's)
and asks ``WakeFilter.wake`` about each event. An event wakes the Dag only if

* it is not yet stored: its offset is at or past the sink's next offset for its partition in
  Postgres (``consumer_offsets``, the offsets that make scoring exactly once), and
* no pipeline run will score it: its ``run_id`` header does not name a run in the run ledger
  (a ``loan_stream_pipeline`` run brings its own consumers).

So events written by another producer (``loanstream produce``, another service) wake it, a
pipeline run's events do not, and a burst wakes it a few times at most: once the Dag's sink has
stored the burst, the rest of it is skipped. Waking is all it does; the scoring, exactly once,
is the sink's.

The filter runs in the triggerer for as long as the Dag is unpaused, on headers anyone who can
write to the topic chooses: it keeps ONE Postgres connection (opened at the first question,
opened again after an error) and remembers at most ``cache_size`` run ids
(``LOANSTREAM_WATCH_CACHE_SIZE``, default 10,000; least recently used forgotten first), each cut
to 250 characters. A flood of distinct run ids costs one query each, never a connection each
nor unbounded memory.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import psycopg2

from loanstream.store.connect import first_line

log = logging.getLogger(__name__)

STORED_OFFSETS_SQL = (
    "SELECT partition, next_offset FROM consumer_offsets "
    "WHERE consumer_group = %s AND topic = %s"
)
PIPELINE_RUN_SQL = "SELECT 1 FROM run_ledger WHERE run_id = %s AND topic = %s LIMIT 1"
MAX_RUN_ID = 250  # a header is untrusted: longer ids are cut before use
DEFAULT_CACHE_SIZE = 10_000  # run ids remembered (LOANSTREAM_WATCH_CACHE_SIZE): ~5 MB at most


def watcher_connection_extra(kafka_extra: dict[str, Any], group: str) -> dict[str, Any]:
    """The watcher connection's client settings (``loanstream_kafka_watcher``, written by
    ``make up`` and the compose init): the cluster's settings with the watcher's own consumer
    group, starting at the topic's end, committing automatically (the trigger commits nothing)."""
    return {**kafka_extra, "group.id": group, "auto.offset.reset": "latest",
            "enable.auto.commit": True}  # fmt: skip


class WakeFilter:
    """Decide, per event, whether it should wake the watcher Dag.

    :param connect: opens a Postgres connection to the loanstream database (called once, and
        again only after the connection failed).
    :param group: the sink's consumer group (whose stored offsets say what is scored).
    :param refresh_seconds: how long the stored offsets are reused before asking again.
    :param cache_size: how many (run id, topic) answers are remembered, least recently used
        forgotten first.
    """

    def __init__(
        self,
        connect: Callable[[], Any],
        group: str,
        refresh_seconds: float = 2.0,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        if cache_size < 1:
            raise ValueError("cache_size must be at least 1")
        self.connect = connect
        self.group = group
        self.refresh_seconds = refresh_seconds
        self.cache_size = cache_size
        self._conn: Any = None
        self._stored: dict[str, tuple[float, dict[int, int]]] = {}
        self._pipeline_runs: OrderedDict[tuple[str, str], bool] = OrderedDict()

    def wake(self, topic: str, partition: int, offset: int, run_id: str | None) -> dict | None:
        """The wake-up's payload (topic, partition, offset, run_id), or None to let it pass."""
        run_id = run_id[:MAX_RUN_ID] if run_id else None
        try:
            if offset < self._stored_offsets(topic).get(partition, 0):
                return None  # already scored
            if run_id and self._is_pipeline_run(run_id, topic):
                return None  # its own pipeline run scores it
        except psycopg2.Error as exc:
            # waking once too often costs a no-op run; not waking could leave events unscored
            log.warning("cannot read Postgres (%s): waking the watcher Dag anyway", first_line(exc))
            self.close()  # the next question opens a new connection
        return {"topic": topic, "partition": partition, "offset": offset, "run_id": run_id}

    def close(self) -> None:
        """Close the connection, if open (the next question opens another)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg2.Error:
                pass

    def _cursor(self) -> Any:
        """A cursor on the kept connection (autocommit: no transaction stays open)."""
        if self._conn is None or self._conn.closed:
            self._conn = self.connect()
            self._conn.autocommit = True
        return self._conn.cursor()

    def _stored_offsets(self, topic: str) -> dict[int, int]:
        fetched, offsets = self._stored.get(topic, (0.0, {}))
        if time.monotonic() - fetched > self.refresh_seconds:
            with self._cursor() as cur:
                cur.execute(STORED_OFFSETS_SQL, (self.group, topic))
                offsets = dict(cur.fetchall())
            self._stored[topic] = (time.monotonic(), offsets)
        return offsets

    def _is_pipeline_run(self, run_id: str, topic: str) -> bool:
        key = (run_id, topic)
        known = self._pipeline_runs.get(key)
        if known is not None:
            self._pipeline_runs.move_to_end(key)
            return known
        # a pipeline run's ledger row is written before its first event, so a miss is final
        with self._cursor() as cur:
            cur.execute(PIPELINE_RUN_SQL, key)
            found = cur.fetchone() is not None
        self._pipeline_runs[key] = found
        if len(self._pipeline_runs) > self.cache_size:
            self._pipeline_runs.popitem(last=False)
        return found
