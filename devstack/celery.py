"""The CeleryExecutor's pieces: Redis (Debian's ``redis-server``) as its broker and the Celery
workers, each with its own hostname (Celery's node name and Airflow's ``[core]
hostname_callable``: ``loanstream.airflow.workers.hostname``), so a task instance, its log and
XCom say where it ran. Task logs are written to the shared log folder (``--skip-serve-logs``).

Redis runs on 127.0.0.1 with a password and no persistence: the queue holds only what the
scheduler will send again. Used by the shared stack and the cluster tests' private stack.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
from collections.abc import Mapping
from pathlib import Path

from devstack.process import Service

HOSTNAME_CALLABLE = "loanstream.airflow.workers.hostname"


def redis_conf(port: int, password: str, directory: Path) -> str:
    """``redis.conf`` for a private, password-protected, non-persistent Redis."""
    return "\n".join(
        [
            "bind 127.0.0.1", f"port {port}", "protected-mode yes", "daemonize no", 'save ""',
            "appendonly no", f"dir {directory}", f"requirepass {password}", "",
        ]
    )  # fmt: skip


def redis_ping(port: int, password: str, timeout: float = 2.0) -> bool:
    """AUTH then PING over RESP: does Redis on 127.0.0.1:``port`` answer PONG?"""
    def bulk(*words: str) -> bytes:
        out = f"*{len(words)}\r\n"
        for word in words:
            out += f"${len(word.encode())}\r\n{word}\r\n"
        return out.encode()

    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout) as s:
        s.sendall(bulk("AUTH", password) + bulk("PING"))
        reply = b""
        while reply.count(b"\r\n") < 2:
            chunk = s.recv(256)
            if not chunk:
                break
            reply += chunk
        return reply.split(b"\r\n")[:2] == [b"+OK", b"+PONG"]
    return False


class Redis(Service):
    """``redis-server`` with its config and working directory in ``directory``."""

    start_timeout = 15.0

    def __init__(self, directory: Path, port: int, password: str, run_dir: Path, log_dir: Path,
                 *, stack_id: str | None = None) -> None:  # fmt: skip
        super().__init__("redis", run_dir, log_dir, stack_id=stack_id)
        self.directory = directory
        self.port = port
        self.password = password
        self.conf = directory / "redis.conf"

    @property
    def broker_url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def argv(self) -> list[str]:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.conf.touch(mode=0o600)
        self.conf.chmod(0o600)
        self.conf.write_text(redis_conf(self.port, self.password, self.directory))
        return [shutil.which("redis-server") or "redis-server", str(self.conf)]

    def healthy(self) -> bool:
        return redis_ping(self.port, self.password)


def worker_hostname(n: int) -> str:
    return f"loanstream-worker-{n}"


class CeleryWorker(Service):
    """Worker ``n`` (service ``celery-worker-N``, hostname ``loanstream-worker-N``)."""

    def __init__(self, airflow: Path, n: int, concurrency: str | int, run_dir: Path, log_dir: Path,
                 *, env: Mapping[str, str], cwd: Path | None = None,
                 stack_id: str | None = None) -> None:  # fmt: skip
        self.hostname = worker_hostname(n)
        worker_env = {
            **env,
            "LOANSTREAM_WORKER_HOSTNAME": self.hostname,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": HOSTNAME_CALLABLE,
        }
        super().__init__(f"celery-worker-{n}", run_dir, log_dir, stack_id=stack_id,
                         env=worker_env, cwd=cwd)  # fmt: skip
        self.airflow = airflow
        self.concurrency = str(concurrency)

    def argv(self) -> list[str]:
        return [
            str(self.airflow), "celery", "worker", "--celery-hostname", f"{self.hostname}@%h",
            "--concurrency", self.concurrency, "--skip-serve-logs",
        ]  # fmt: skip


def workers_answering(broker_url: str, timeout: float = 2.0) -> int:
    """How many Celery workers answer a ping through ``broker_url``."""
    from celery import Celery

    app = Celery(broker=broker_url)
    try:
        return len(app.control.ping(timeout=timeout))
    except Exception:  # noqa: BLE001 - any failure means "not answering yet"
        return 0
    finally:
        with contextlib.suppress(Exception):
            app.close()
