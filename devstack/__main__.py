"""``python -m devstack up|down|status|clean|restart-airflow|restart-registry|secrets`` (see
:mod:`devstack`).

``secrets`` writes a random value into ``.env`` for every password not set yet (existing
values kept); ``make up`` runs it before loading ``scripts/env.sh``, then ``up`` under it.
"""

from __future__ import annotations

import os
import sys

from devstack.config import ConfigError, StackConfig
from devstack.envfile import ROOT, ensure_secrets
from devstack.private import set_umask
from devstack.process import ServiceError, log_tail

USAGE = "usage: python -m devstack {up|down|status|clean|restart-airflow|restart-registry|secrets}"
# what `up` needs in the environment (scripts/env.sh sets it): run under it
REQUIRED = ("LOANSTREAM_ROOT", "AIRFLOW_HOME", "LOANSTREAM_KAFKA_PORT")


def fail(error: ServiceError) -> int:
    """Report a failed service with its log file and the log's last lines; exit status 1."""
    print(f"[stack] ERROR: {error.name}: {error.message}", file=sys.stderr)
    if error.log_path is not None:
        print(f"[stack] see its log: {error.log_path}  (last lines below)", file=sys.stderr)
        if error.log_path.is_file():
            for line in log_tail(error.log_path).splitlines():
                print(f"    {line}", file=sys.stderr)
    return 1


def main(argv: list[str]) -> int:
    set_umask()  # every file the stack writes, and every process it starts, is private
    if len(argv) != 1:
        print(USAGE, file=sys.stderr)
        return 2
    command = argv[0]
    if command == "secrets":
        for name in ensure_secrets():
            print(f"[stack] generated a random {name} into {ROOT / '.env'}")
        return 0
    if command not in ("up", "down", "status", "clean", "restart-airflow", "restart-registry"):
        print(USAGE, file=sys.stderr)
        return 2
    missing = [k for k in REQUIRED if not os.environ.get(k)]
    if missing:
        print(f"[stack] ERROR: {', '.join(missing)} unset: run it as `scripts/env.sh "
              f"{sys.executable} -m devstack {command}` (or `make {command}`)", file=sys.stderr)
        return 2
    from devstack.stack import Stack  # imports loanstream: the project's .venv

    try:
        stack = Stack(StackConfig.from_env())
        {
            "up": stack.up,
            "down": stack.down,
            "status": stack.status,
            "clean": stack.clean,
            "restart-airflow": stack.restart_airflow,
            "restart-registry": stack.restart_registry,
        }[command]()
    except ConfigError as exc:
        print(f"[stack] ERROR: {exc}", file=sys.stderr)
        return 1
    except ServiceError as exc:
        return fail(exc)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
