"""Secrets and data at rest, over the running stack (``make up``): no password or key in the
command line of any process on the machine (what ``ps`` shows every user), and ``.local/``
and the files the stack writes are its user's only.

Processes: every process of this checkout's stack (Kafka, Postgres, the schema registry,
Airflow's services and their workers, Redis and Celery workers when they run) is found by
its session and by ``LOANSTREAM_STACK_ID``, and must be there; then every process's argv is
scanned. Secrets: every ``*PASSWORD`` variable of the environment ``scripts/env.sh`` loads
(URL-quoted too), Airflow's keys in ``.local/secrets`` and the broker's keystore password.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from devstack.private import PRIVATE_TREES
from devstack.process import marked_pids, read_pidfile, session_pids
from tests.helpers import REPO

pytestmark = [pytest.mark.security, pytest.mark.integration]

LOCAL = REPO / ".local"


def stack_secrets() -> dict[str, str]:
    found = {
        name: value
        for name, value in os.environ.items()
        if name.endswith("PASSWORD") and len(value) >= 8
    }
    files = [*(LOCAL / "secrets").glob("*"), LOCAL / "kafka" / "tls" / "keystore.password"]
    for path in files:
        if path.is_file() and len(value := path.read_text().strip()) >= 8:
            found[str(path.relative_to(REPO))] = value
    return found


def stack_pids() -> list[int]:
    stack_id = subprocess.run(
        ["sha1sum"], input=str(REPO).encode(), capture_output=True, check=True
    ).stdout.decode()[:12]
    sessions = [r[0] for p in (LOCAL / "run").glob("*.pid") if (r := read_pidfile(p))]
    return sorted({*marked_pids(stack_id), *session_pids(sessions)})


def argv_of(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None


def test_no_secret_on_any_command_line() -> None:
    secrets = stack_secrets()
    assert {"LOANSTREAM_PG_PASSWORD", "AIRFLOW_PG_PASSWORD"} <= set(secrets), sorted(secrets)
    ours = {pid: argv_of(pid) or "" for pid in stack_pids()}
    for service in ("kafka.Kafka", "postgres", "quarkus-run.jar", "airflow scheduler",
                    "airflow api_server", "airflow triggerer", "airflow dag-processor"):  # fmt: skip
        assert any(service in argv for argv in ours.values()), (service, sorted(ours.values()))
    everyone = {int(p.name): argv_of(int(p.name)) for p in Path("/proc").iterdir() if p.name.isdigit()}
    for pid, argv in everyone.items():
        if not argv:
            continue
        for name, value in secrets.items():
            for form in {value, urllib.parse.quote(value, safe="")}:
                assert form not in argv, f"{name} on the command line of pid {pid}"


def test_scripts_env_sh_runs_no_process_with_a_secret(tmp_path: Path) -> None:
    """env.sh itself (run by every make target and service start): strace sees every exec."""
    if not any((Path(d) / "strace").exists() for d in os.environ["PATH"].split(os.pathsep)):
        pytest.skip("strace is not installed")
    trace = tmp_path / "trace"
    subprocess.run(
        ["strace", "-f", "-e", "trace=execve", "-s", "65536", "-o", str(trace),
         str(REPO / "scripts" / "env.sh"), "true"],
        check=True, capture_output=True,
    )  # fmt: skip
    execs = trace.read_text()
    for name, value in stack_secrets().items():
        assert value not in execs and urllib.parse.quote(value, safe="") not in execs, name


def _open_modes(top: Path) -> list[str]:
    """Files and folders under ``top`` that group or others may access."""
    bad = []
    for folder, _dirs, files in os.walk(top):
        for name in (folder, *(os.path.join(folder, f) for f in files)):
            mode = os.lstat(name).st_mode
            if not stat.S_ISLNK(mode) and mode & 0o077:
                bad.append(f"{name} {stat.filemode(mode)}")
    return bad


def test_local_and_the_files_the_stack_writes_are_private() -> None:
    mode = stat.S_IMODE(LOCAL.stat().st_mode)
    base = (LOCAL / "postgres-base").read_text().strip() if (LOCAL / "postgres-base").is_file() else ""
    assert mode == 0o700 or (mode == 0o711 and base.startswith(str(LOCAL))), oct(mode)
    assert (LOCAL / "logs" / "kafka.log").is_file() and (LOCAL / "kafka" / "data").is_dir()
    for tree in PRIVATE_TREES:
        if (LOCAL / tree).exists():
            assert _open_modes(LOCAL / tree) == [], tree
    for log in (LOCAL / "logs").glob("*.log"):
        assert stat.S_IMODE(log.stat().st_mode) == 0o600, log
    if base and Path(base).exists():
        assert stat.S_IMODE(Path(base, "data").stat().st_mode) == 0o700


def test_a_validation_report_is_private(tmp_path: Path) -> None:
    """Run as the tasks run (the stack's umask is not needed: the report sets its modes)."""
    reports = tmp_path / "reports"
    sample = REPO / "include" / "data" / "loan_applications_sample.csv"
    out = subprocess.run(
        [sys.executable, "-m", "loanstream.cli", "validate", "--csv", str(sample),
         "--report-dir", str(reports), "--run-id", "private"],
        capture_output=True, text=True, check=False, preexec_fn=lambda: os.umask(0o022),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    report = reports / "private" / "validation.html"
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    assert stat.S_IMODE(report.parent.stat().st_mode) == 0o700


def env_file_secrets() -> dict[str, str]:
    """Every secret `.env` holds (passwords, tokens, keys), by name."""
    from devstack.envfile import load

    values = load(REPO, environ={})  # .env over .env.example, parsed as env.sh parses them
    return {
        name: value
        for name, value in values.items()
        if any(word in name for word in ("PASSWORD", "TOKEN", "SECRET", "KEY")) and len(value) >= 8
    }


@pytest.mark.e2e
def test_no_secret_of_env_on_any_command_line_during_a_run(dag_runner, settings) -> None:
    """While a pipeline run starts its tasks (every task a process of its own), every
    process's ``/proc/<pid>/cmdline`` is read again and again: no value of `.env` is in one."""
    import time

    secrets = {**stack_secrets(), **env_file_secrets()}
    assert "LOANSTREAM_AIRFLOW_ADMIN_PASSWORD" in secrets, sorted(secrets)
    forms = {form: name for name, value in secrets.items()
             for form in {value, urllib.parse.quote(value, safe="")}}  # fmt: skip
    run_id = dag_runner.trigger(
        "loan_stream_pipeline",
        {"csv_path": str(settings.sample_csv), "rate": 500, "max_events": 2000},
    )
    seen: set[int] = set()
    found: list[str] = []
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            argv = argv_of(int(entry.name))
            if not argv:
                continue
            seen.add(int(entry.name))
            found += [f"{forms[f]} in pid {entry.name}" for f in forms if f in argv]
        state = dag_runner.run("loan_stream_pipeline", run_id)["state"]
        if state in ("success", "failed"):
            break
        time.sleep(0.2)
    assert state == "success", dag_runner.task_states("loan_stream_pipeline", run_id)
    assert found == []
    assert len(seen) > 50  # the scan saw the run's processes come and go
