"""Prometheus: Debian's ``prometheus`` package (``make setup`` installs it), scraping the
pipeline's metrics (``/loanstream/metrics`` on Airflow's API server) and evaluating the alert
rules of ``infra/prometheus/``.

It listens on 127.0.0.1:``LOANSTREAM_PROMETHEUS_PORT`` (9090) only. Everything it keeps is
under ``.local/prometheus/`` (mode 0700): ``prometheus.yml`` and ``alerts.yml`` (rendered at
each start from ``infra/prometheus/*.in``), ``metrics-token`` (0600: the bearer token it scrapes
with, ``LOANSTREAM_METRICS_TOKEN``, read by ``authorization: credentials_file``, never on a
command line) and ``data/`` (its TSDB).

The alert thresholds are settings (:data:`SETTINGS`, each with its default), rendered into
``alerts.yml``: ``@NAME@`` in a template is the value of ``LOANSTREAM_<NAME>``. A changed
setting, port or token restarts Prometheus at the next ``make up`` (its data stays).

``python3 -m devstack.prometheus check [OUT_DIR]`` renders both files with the current settings
and runs ``promtool check config`` on them (and so ``check rules`` on the rules): ``make lint``.
``python3 -m devstack.prometheus render OUT_DIR TARGET`` only renders them (docker compose's
``prometheus-config`` service, for the ``prometheus`` container).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from devstack.config import ROOT
from devstack.process import Fingerprinted, Service, ServiceError

TEMPLATES = ROOT / "infra" / "prometheus"
# every setting of the rendered files, with its default (documented in docs/OPERATIONS.md)
SETTINGS: dict[str, str] = {
    "PROMETHEUS_SCRAPE_INTERVAL": "15s",  # how often the pipeline's metrics are read
    "PROMETHEUS_EVALUATION_INTERVAL": "15s",  # how often the rules are evaluated
    "ALERT_LAG_EVENTS": "10000",  # LoanstreamConsumerLagHigh: events waiting in a topic, more than
    "ALERT_LAG_FOR": "5m",  # ... for this long
    "ALERT_DEAD_LETTERS": "0",  # LoanstreamDeadLettersRising: new dead letters, more than
    "ALERT_DEAD_LETTERS_WINDOW": "15m",  # ... within this window
    "ALERT_HEARTBEAT_SECONDS": "60",  # LoanstreamProducerStalled: a live producer's heartbeat older
    "ALERT_HEARTBEAT_FOR": "30s",  # ... for this long
    "ALERT_FAILED_RUN_WINDOW": "30m",  # LoanstreamDagRunFailed: a loanstream Dag run failed within
    "ALERT_SCORING_STOPPED_FOR": "5m",  # LoanstreamScoringStopped: events wait, none scored, this long
}
_PLACEHOLDER = re.compile(r"@([A-Z][A-Z0-9_]*)@")
_DURATION = re.compile(r"^[0-9]+(ms|s|m|h|d|w|y)$")


def setting(env: Mapping[str, str], name: str) -> str:
    """``LOANSTREAM_<name>`` from ``env``, else its default; checked (a number or a duration)."""
    value = (env.get(f"LOANSTREAM_{name}") or SETTINGS[name]).strip()
    ok = value.isdigit() if name in ("ALERT_LAG_EVENTS", "ALERT_DEAD_LETTERS", "ALERT_HEARTBEAT_SECONDS") \
        else bool(_DURATION.match(value))  # fmt: skip
    if not ok:
        raise ServiceError("prometheus", f"LOANSTREAM_{name}={value!r}: want a whole number or a "
                           "duration such as 30s, 5m, 1h")  # fmt: skip
    return value


def render(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each ``@NAME@`` replaced; an unknown name is an error."""

    def one(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            raise ServiceError("prometheus", f"unknown placeholder @{match.group(1)}@ in a template")
        return values[match.group(1)]

    return _PLACEHOLDER.sub(one, template)


def ready(url: str, timeout: float = 2.0) -> bool:
    """Does Prometheus at ``url`` say it is ready (``/-/ready``)?"""
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=timeout) as resp:  # noqa: S310 - ours
            return resp.status == 200
    except OSError:
        return False


class Prometheus(Fingerprinted, Service):
    """One Prometheus server scraping ``target`` (``host:port`` of Airflow's API server).

    ``env`` holds the settings (:data:`SETTINGS`, ``LOANSTREAM_METRICS_TOKEN``,
    ``LOANSTREAM_ALERTMANAGER_URL``); the tests start private ones with short intervals."""

    def __init__(
        self,
        port: int,
        target: str,
        *,
        home: Path,
        run_dir: Path,
        log_dir: Path,
        env: Mapping[str, str],
        binary: str = "prometheus",
        name: str = "prometheus",
        stack_id: str | None = None,
    ) -> None:
        passed = {k: v for k, v in env.items() if k in ("PATH", "HOME", "LANG", "TZ")}
        super().__init__(name, run_dir, log_dir, stack_id=stack_id, env=passed, cwd=home)
        self.port = port
        self.target = target
        self.home = home
        self.settings = env
        self.binary = binary
        self.stamp = run_dir / f"{name}.config.sha256"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.home / "prometheus.yml"

    def values(self) -> dict[str, str]:
        """What the templates are rendered with."""
        found = {name: setting(self.settings, name) for name in SETTINGS}
        alertmanager = self.settings.get("LOANSTREAM_ALERTMANAGER_URL", "").strip()
        found.update(
            TARGET=self.target,
            PAGE_URL=f"http://{self.target}/loanstream/",
            TOKEN_FILE=str(self.home / "metrics-token"),
            RULES_FILE=str(self.home / "alerts.yml"),
            # no Alertmanager (the default): the rules still fire, in Prometheus' own /alerts
            ALERTMANAGERS=f'["{alertmanager.split("://", 1)[-1]}"]' if alertmanager else "[]",
        )
        return found

    def write_files(self) -> None:
        """``prometheus.yml``, ``alerts.yml`` and the 0600 token file into ``home`` (0700)."""
        token = self.settings.get("LOANSTREAM_METRICS_TOKEN", "").strip()
        if not token:
            raise ServiceError(self.name, "LOANSTREAM_METRICS_TOKEN unset (make up writes it into .env)")
        self.home.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o700)
        values = self.values()
        for name in ("prometheus.yml", "alerts.yml"):
            text = render((TEMPLATES / f"{name}.in").read_text(), values)
            (self.home / name).write_text(text)
        fd = os.open(values["TOKEN_FILE"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(token + "\n")
        os.chmod(values["TOKEN_FILE"], 0o600)

    def argv(self) -> list[str]:
        if shutil.which(self.binary) is None:
            raise ServiceError(self.name, f"{self.binary} not found: run `make setup` first (Debian's prometheus)")
        return [
            self.binary,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.home / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=7d",
            f"--web.external-url={self.url}",
        ]

    def healthy(self) -> bool:
        return ready(self.url)

    # --- what it runs with: a changed port, token, setting or template restarts it --------------------
    def fingerprint(self) -> str:
        values = self.values()
        templates = [(TEMPLATES / f"{n}.in").read_text() for n in ("prometheus.yml", "alerts.yml")]
        text = "\0".join([*self.argv(), *(f"{k}={values[k]}" for k in sorted(values)), *templates,
                          self.settings.get("LOANSTREAM_METRICS_TOKEN", "")])  # fmt: skip
        return hashlib.sha256(text.encode()).hexdigest()


def check(out_dir: Path, env: Mapping[str, str], promtool: str = "promtool") -> subprocess.CompletedProcess[str]:
    """Render the files into ``out_dir`` (a throwaway token) and run ``promtool check config``
    (which checks the rules file it names too)."""
    settings = {**env, "LOANSTREAM_METRICS_TOKEN": env.get("LOANSTREAM_METRICS_TOKEN") or "lint-only"}
    prom = Prometheus(9090, "127.0.0.1:8080", home=out_dir, run_dir=out_dir, log_dir=out_dir, env=settings)
    prom.write_files()
    return subprocess.run([promtool, "check", "config", str(prom.config_path)],
                          capture_output=True, text=True, check=False)  # fmt: skip


def main(argv: list[str]) -> int:
    if argv[:1] == ["render"] and len(argv) == 3:
        prom = Prometheus(9090, argv[2], home=Path(argv[1]), run_dir=Path(argv[1]), log_dir=Path(argv[1]),
                          env=os.environ)  # fmt: skip
        try:
            prom.write_files()
        except ServiceError as exc:
            print(exc.message, file=sys.stderr)
            return 1
        print(f"rendered {prom.config_path} and alerts.yml (scraping {argv[2]})")
        return 0
    if not argv or argv[0] != "check" or len(argv) > 2:
        print("usage: python3 -m devstack.prometheus check [OUT_DIR] | render OUT_DIR TARGET", file=sys.stderr)
        return 2
    if shutil.which("promtool") is None:
        print("promtool not found: run `make setup` (Debian's prometheus)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="loanstream-prom-") as tmp:
        out = Path(argv[1]) if len(argv) == 2 else Path(tmp)
        try:
            result = check(out, os.environ)
        except ServiceError as exc:
            print(exc.message, file=sys.stderr)
            return 1
        print((result.stdout + result.stderr).strip())
        return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
