"""Quick health probes used by scripts/stack.sh: exit 0 when healthy, 1 otherwise.

    python scripts/stackcheck.py kafka BOOTSTRAP [BROKERS]   # BROKERS registered (default 1)
    python scripts/stackcheck.py airflow URL   # all of /api/v2/monitor/health healthy
    python scripts/stackcheck.py celery WORKERS  # WORKERS Celery workers answer a ping
                                                 # (broker: AIRFLOW__CELERY__BROKER_URL)
"""

from __future__ import annotations

import json
import sys
import urllib.request

AIRFLOW_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


def kafka(bootstrap: str, brokers: str = "1") -> int:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        meta = admin.list_topics(timeout=3)
    except Exception as exc:  # noqa: BLE001 - any failure means "not healthy yet"
        print(f"kafka: {exc}", file=sys.stderr)
        return 1
    if len(meta.brokers) < max(1, int(brokers)):
        print(f"kafka: {len(meta.brokers)} of {brokers} brokers registered", file=sys.stderr)
        return 1
    return 0


def airflow(url: str) -> int:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=3) as resp:
            health = json.load(resp)
    except Exception as exc:  # noqa: BLE001
        print(f"airflow: {exc}", file=sys.stderr)
        return 1
    bad = [
        name
        for name in AIRFLOW_COMPONENTS
        if (health.get(name) or {}).get("status") != "healthy"
    ]
    if bad:
        print("airflow: not healthy: " + ", ".join(bad), file=sys.stderr)
        return 1
    return 0


def celery(workers: str) -> int:
    import os

    from celery import Celery

    app = Celery(broker=os.environ["AIRFLOW__CELERY__BROKER_URL"])
    try:
        replies = app.control.ping(timeout=2.0)
    except Exception as exc:  # noqa: BLE001
        print(f"celery: {exc}", file=sys.stderr)
        return 1
    if len(replies) < int(workers):
        print(f"celery: {len(replies)} of {workers} workers answered", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    check = {"kafka": kafka, "airflow": airflow, "celery": celery}[sys.argv[1]]
    sys.exit(check(*sys.argv[2:]))
