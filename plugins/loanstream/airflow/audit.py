"""Entries in Airflow's audit log (the ``log`` table) for what the Loanstream page changes.

The same table and model (``airflow.models.Log``) Airflow's own API writes with
``action_logging``: the entries show in the UI's audit log (Browse > Audit Log, and a Dag's
Audit Log tab) and in ``GET /api/v2/eventLogs?event=loanstream.redrive``, filtered there by the
reader's rights on ``dag_id`` like Airflow's own.
"""

from __future__ import annotations

import json
import logging
from typing import Any

log = logging.getLogger(__name__)

REDRIVE_REQUESTED_EVENT = "loanstream.redrive.requested"  # before: no entry, no redrive
REDRIVE_EVENT = "loanstream.redrive"  # after: what it did
MAX_EXTRA_CHARS = 10_000  # the counts and the filters; a long error list is cut, never the row


def write_entry(event: str, *, user_name: str, dag_id: str, extra: dict[str, Any]) -> int | None:
    """Add one audit-log entry in its own transaction; its id, or None if it could not be written
    (logged as an error: the action it records has happened already)."""
    from airflow.models.log import Log
    from airflow.utils.session import create_session

    text = json.dumps(extra, sort_keys=True, default=str)
    if len(text) > MAX_EXTRA_CHARS:
        text = json.dumps({"truncated": True, "head": text[:MAX_EXTRA_CHARS]})
    try:
        with create_session() as session:
            entry = Log(event=event, owner=user_name, owner_display_name=user_name, extra=text,
                        dag_id=dag_id)  # fmt: skip
            session.add(entry)
            session.flush()
            return entry.id
    except Exception as exc:  # noqa: BLE001 - the metadata database, whatever it raised
        log.error("audit log: cannot write %s by %s (%s): %s", event, user_name, exc, text)
        return None
