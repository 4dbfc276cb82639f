"""Secrets and data at rest, the parts with no running stack: ``.env`` parsed as data (never
``eval``'d) by ``scripts/env.sh`` exactly as ``devstack.envfile`` parses it; no secret on any
command line ``scripts/env.sh`` runs; its umask and Airflow's task-log permissions."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from devstack.envfile import parse_value

pytestmark = [pytest.mark.security, pytest.mark.unit]

REPO = Path(__file__).resolve().parents[2]
ENV_SH = REPO / "scripts" / "env.sh"

VALUES = [
    "plain", " spaced ", "'single $A ${B} # kept'", '"double ${A} and $B"', "${A}:${B}",
    "x$A$B/y", "a # comment", "a#not-a-comment", "'a # b'", '"a # b"', "$", "a$1$B", "${",
    "${A", "$A_B", "", "''", '""', "p%40ss;word", "`touch /tmp/x`", "$(touch /tmp/x)",
    "a; touch /tmp/x", "-Xms512m -Xmx1g", '"-Xms128m -Xmx512m"', "back\\slash", "é ü ✓",
]  # fmt: skip


def bash_values(raw_values: list[str], env: dict[str, str]) -> list[str]:
    """What env.sh's parser makes of each raw value (one bash, env.sh's functions only)."""
    script = (
        f'eval "$(sed -n "/^_loanstream_expand() {{/,/^_loanstream_load_env_file() {{/p" {ENV_SH}'
        ' | head -n -1)"\n'
        'for raw in "$@"; do _loanstream_env_value "$raw"; printf "\\0"; done'
    )
    out = subprocess.run(
        ["bash", "-c", script, "bash", *raw_values],
        env={"PATH": os.environ["PATH"], **env}, capture_output=True, check=True,
    )  # fmt: skip
    return out.stdout.decode().split("\0")[:-1]


def test_env_sh_parses_values_as_devstack_envfile_does(tmp_path: Path) -> None:
    env = {"A": "alpha", "B": "b e t a", "A_B": "ab"}
    expected = [parse_value(raw, dict(env)) for raw in VALUES]
    assert bash_values(VALUES, env) == expected


def test_env_sh_runs_nothing_from_env_files(tmp_path: Path) -> None:
    """A hostile .env line is a value, never a command (env.sh used to ``eval`` each line)."""
    root = tmp_path / "root"
    (root / "scripts").mkdir(parents=True)
    (root / "scripts" / "env.sh").write_text(ENV_SH.read_text())
    marker = tmp_path / "ran"
    (root / ".env").write_text(
        f"LS_A=$(touch {marker})\nLS_B=`touch {marker}`\nLS_C=x; touch {marker}\n"
        f'LS_D="$(touch {marker})"\nexport LS_E=ok # comment\n'
    )
    (root / ".env.example").write_text("LS_E=not-this\nLS_F=${LS_E}-f\n")
    out = subprocess.run(
        ["bash", str(root / "scripts" / "env.sh"), "bash", "-c",
         'printf "%s|" "$LS_A" "$LS_B" "$LS_C" "$LS_D" "$LS_E" "$LS_F"; echo; umask'],
        env={"PATH": os.environ["PATH"]}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert not marker.exists()
    assert out.stdout.splitlines()[0] == (
        f"$(touch {marker})|`touch {marker}`|x; touch {marker}|$(touch {marker})|ok|ok-f|"
    )
    assert out.stdout.splitlines()[1] == "0077"


def test_env_sh_puts_no_secret_on_a_command_line(tmp_path: Path) -> None:
    """The DSNs with the Airflow and Redis passwords are built in bash (no ``python3 -c ...
    PASSWORD``): every process env.sh starts is traced, and no argv holds a password."""
    password = "Pw-" + os.urandom(8).hex() + "/+:@ é"
    trace = tmp_path / "trace"
    env = {
        "PATH": os.environ["PATH"], "AIRFLOW_PG_PASSWORD": password,
        "LOANSTREAM_REDIS_PASSWORD": password, "LOANSTREAM_EXECUTOR": "celery",
    }  # fmt: skip
    out = subprocess.run(
        ["strace", "-f", "-e", "trace=execve", "-s", "4096", "-o", str(trace), "bash",
         str(ENV_SH), "bash", "-c",
         'printf "%s\\n%s\\n" "$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" "$AIRFLOW__CELERY__BROKER_URL"'],
        env=env, capture_output=True, text=True, check=False,
    ) if _has_strace() else None  # fmt: skip
    if out is None:
        pytest.skip("strace is not installed")
    assert out.returncode == 0, out.stderr
    quoted = "Pw-" + password[3:19] + "%2F%2B%3A%40%20%C3%A9"
    dsn, broker = out.stdout.splitlines()
    assert f":{quoted}@127.0.0.1:" in dsn and f"redis://:{quoted}@127.0.0.1:" in broker
    execs = trace.read_text()
    assert "execve(" in execs
    assert password[:19] not in execs and quoted not in execs


def _has_strace() -> bool:
    return any((Path(d) / "strace").exists() for d in os.environ["PATH"].split(os.pathsep))


def test_task_logs_are_private() -> None:
    out = subprocess.run(
        ["bash", str(ENV_SH), "bash", "-c",
         'echo "$AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FOLDER_PERMISSIONS '
         '$AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FILE_PERMISSIONS"'],
        env={"PATH": os.environ["PATH"]}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.split() == ["0o700", "0o600"]


def test_generate_writes_through_a_private_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mkstemp beside the target (0600 whatever the umask, an unpredictable name): a symlink
    planted at the old predictable name ``.<name>.tmp<pid>`` is not followed."""
    import stat

    import loanstream.lendingclub.sample as sample
    from loanstream.cli import main

    seen: dict[str, object] = {}
    replace = os.replace

    def spy(src: str, dst: str) -> None:
        info = os.lstat(src)
        seen.update(name=Path(src).name, folder=Path(src).parent, mode=stat.S_IMODE(info.st_mode),
                    regular=stat.S_ISREG(info.st_mode))  # fmt: skip
        replace(src, dst)

    monkeypatch.setattr(sample.os, "replace", spy)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    predictable = tmp_path / f".out.csv.tmp{os.getpid()}"
    predictable.symlink_to(victim)
    out = tmp_path / "out.csv"
    before = os.umask(0o022)
    try:
        assert main(["generate", "--rows", "20", "--seed", "1", "--out", str(out)]) == 0
    finally:
        os.umask(before)
    assert seen["folder"] == tmp_path and seen["regular"] is True
    assert seen["mode"] == 0o600 and seen["name"] != predictable.name
    assert victim.read_text() == "keep" and out.stat().st_size > 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["victim.txt", predictable.name, "out.csv"])  # nothing left behind
