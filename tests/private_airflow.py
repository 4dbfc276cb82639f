"""A private Airflow API server for the Loanstream page's tests, serving THIS checkout's plugins.

The shared stack's API server loads the plugins of the checkout that started it; a branch's
page is tested on a server of its own: same metadata database, JWT secret and passwords (the
environment ``scripts/env.sh`` exports), this checkout's ``plugins/``, a free port. Stopped
(its whole process group) when the block ends. When the shared server already serves this
very page (``loanstream.js`` byte for byte), it is used instead.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGE_JS = REPO / "plugins" / "loanstream" / "airflow" / "static" / "loanstream.js"
LOGS = REPO / "tests" / "artifacts"


def _get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def serves_this_page(base_url: str) -> bool:
    """Does the server at ``base_url`` serve this checkout's page script, unchanged?"""
    try:
        status, body = _get(f"{base_url}/loanstream/static/loanstream.js")
    except OSError:
        return False
    return status == 200 and body == PAGE_JS.read_bytes()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def private_api_server(timeout: float = 120, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """Start ``airflow api-server`` with this checkout's plugins (and ``extra_env`` on top of the
    environment, e.g. other users); yield its base URL."""
    if not os.environ.get("AIRFLOW_HOME") or not os.environ.get("AIRFLOW__API_AUTH__JWT_SECRET"):
        raise RuntimeError("run the tests under scripts/env.sh (AIRFLOW_HOME, the JWT secret)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        **(extra_env or {}),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__API__WORKERS": "1",
        "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)]),
    }
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / "private-api-server.log"  # the last one's, kept (git-ignored)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1",
             "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the private API server exited ({proc.returncode}): {log_path}")
            try:
                if _get(f"{url}/api/v2/monitor/health", 2)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the private API server did not answer in {timeout}s: {log_path}")
            time.sleep(1)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@contextlib.contextmanager
def loanstream_server(shared_url: str) -> Iterator[str]:
    """The shared server if it serves this page, else a private one."""
    if serves_this_page(shared_url):
        yield shared_url
        return
    with private_api_server() as url:
        yield url
