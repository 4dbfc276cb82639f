"""The stack's files are its user's only: umask 077 for everything devstack starts, ``.local/``
0700, and the folders that hold data or secrets (logs, task logs, Kafka's data, validation
reports, pid files, secrets) tightened to no access for group and others, also when an older
stack created them open. Postgres' own data directory is initdb's (0700, its OS user's).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

UMASK = 0o077
# under .local: what holds events, cell values, logs or secrets
PRIVATE_TREES = ("logs", "run", "reports", "secrets", "airflow/logs", "kafka/data", "redis")


def set_umask() -> None:
    """Files and folders created from now on (by us and every process we start) are private."""
    os.umask(UMASK)


def tighten(local: Path, postgres_base: Path | None = None) -> list[str]:
    """``local`` 0700 and :data:`PRIVATE_TREES` without group/other bits; returns notes.

    Postgres runs as another OS user when we are root: if its cluster lives under ``local``
    (a checkout from before this rule), ``local`` stays traversable (0711: nobody else can
    list it) so the server still reaches its data; ``make clean`` moves it out.
    """
    notes: list[str] = []
    local.mkdir(parents=True, exist_ok=True)
    inside = postgres_base is not None and postgres_base.is_relative_to(local)
    if inside and os.geteuid() == 0:
        local.chmod(0o711)
        notes.append(f"{local} is 0711, not 0700: the Postgres cluster lives in it "
                     f"({postgres_base}); `make clean` moves it to /var/tmp")  # fmt: skip
    else:
        local.chmod(0o700)
    for name in PRIVATE_TREES:
        _strip_group_other(local / name)
    return notes


def _strip_group_other(top: Path) -> None:
    if not top.exists() or top.is_symlink():
        return
    for folder, dirs, files in os.walk(top):
        for name in (folder, *(os.path.join(folder, f) for f in files)):
            try:
                mode = os.lstat(name).st_mode
                if not stat.S_ISLNK(mode) and mode & 0o077:
                    os.chmod(name, stat.S_IMODE(mode) & ~0o077)
            except OSError:
                continue
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
