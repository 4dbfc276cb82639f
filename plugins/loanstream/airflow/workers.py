"""The hostname a Celery worker gives Airflow (``[core] hostname_callable``).

``make up`` with ``LOANSTREAM_EXECUTOR=celery`` runs several workers on one machine; each gets
``LOANSTREAM_WORKER_HOSTNAME=loanstream-worker-N`` and this callable, so the task instance's
hostname (UI, REST API, the ``score_events`` XCom) says which worker ran it. Elsewhere (no
variable set) it is Airflow's default, the machine's FQDN.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("LOANSTREAM_WORKER_HOSTNAME", "").strip() or socket.getfqdn()
