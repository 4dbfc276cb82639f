"""Process supervision: pid files with start times, one session per service.

A pid file holds two lines: the pid and the process's start time (field 22 of
``/proc/PID/stat``, clock ticks since boot), so a pid reused by an unrelated process is never
taken for ours. Each service runs in a session of its own (``setsid``): the session id is the
service's pid, and everything it spawns (Airflow's workers, task processes in process groups
of their own) stays in that session, so stopping a service stops exactly what it started.
Every process carries ``LOANSTREAM_STACK_ID`` in its environment when one is given, so the
shared stack's ``down`` also finds children that left the session.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

TAIL_LINES = 25


class ServiceError(RuntimeError):
    """A service failed to start or to become healthy; names its log file."""

    def __init__(self, name: str, message: str, log_path: Path | None = None) -> None:
        self.name = name
        self.message = message
        self.log_path = log_path
        tail = log_tail(log_path) if log_path is not None else ""
        super().__init__(f"{name}: {message}" + (f" (log {log_path}):\n{tail}" if tail else ""))


def log(message: str) -> None:
    """One ``[stack] ...`` line on stdout."""
    print(f"[stack] {message}", flush=True)


def log_tail(path: Path | None, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of ``path`` ("(no log)" when it cannot be read)."""
    if path is None:
        return "(no log)"
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass(frozen=True)
class Stat:
    """The fields of ``/proc/PID/stat`` that supervision needs."""

    state: str
    pgrp: int
    session: int
    start: int


def parse_stat(text: str) -> Stat:
    """Parse one ``/proc/PID/stat`` line (the command name may hold spaces and parentheses)."""
    fields = text[text.rindex(")") + 2 :].split()
    return Stat(state=fields[0], pgrp=int(fields[2]), session=int(fields[3]), start=int(fields[19]))


def stat(pid: int) -> Stat | None:
    """The live (not zombie) process ``pid``'s stat, or None."""
    try:
        info = parse_stat(Path(f"/proc/{pid}/stat").read_text())
    except (OSError, ValueError, IndexError):
        return None
    return None if info.state in ("Z", "X") else info


def write_pidfile(path: Path, pid: int) -> None:
    """``pid`` and its start time (0 when it already exited) into ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    info = stat(pid)
    path.write_text(f"{pid}\n{info.start if info else 0}\n")


def read_pidfile(path: Path) -> tuple[int, int] | None:
    """(pid, start time) from ``path``, or None when it is missing or malformed."""
    try:
        lines = path.read_text().split()
        return int(lines[0]), int(lines[1])
    except (OSError, ValueError, IndexError):
        return None


def pid_matches(recorded: tuple[int, int] | None, lookup: Callable[[int], Stat | None] = stat) -> int | None:
    """The recorded pid when that process is alive and started when recorded (ours), else None."""
    if recorded is None:
        return None
    pid, start = recorded
    info = lookup(pid)
    return pid if info is not None and info.start == start else None


def all_stats() -> dict[int, Stat]:
    """Every live process's stat."""
    out: dict[int, Stat] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (info := stat(int(entry.name))) is not None:
            out[int(entry.name)] = info
    return out


def session_pids(sids: Iterable[int]) -> list[int]:
    """Live processes in any of the sessions ``sids`` or process groups of those ids (but never
    this process)."""
    wanted = set(sids)
    if not wanted:
        return []
    me = os.getpid()
    return sorted(
        pid
        for pid, info in all_stats().items()
        if pid != me and (info.session in wanted or info.pgrp in wanted)
    )


def marked_pids(stack_id: str) -> list[int]:
    """Live processes whose environment carries ``LOANSTREAM_STACK_ID=stack_id`` (exec'd
    children of the services; Airflow's setproctitle hides it in the services themselves)."""
    marker = f"LOANSTREAM_STACK_ID={stack_id}".encode()
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0") and stat(int(entry.name)) is not None:
            found.append(int(entry.name))
    return sorted(found)


def signal_pids(pids: Iterable[int], sig: int) -> None:
    """Send ``sig`` to each of ``pids`` (gone already: fine)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def wait_gone(probe: Callable[[], list[int]], timeout: float) -> list[int]:
    """Poll ``probe`` until it finds nothing or ``timeout`` passes; returns what is left."""
    deadline = time.monotonic() + timeout
    left = probe()
    while left and time.monotonic() < deadline:
        time.sleep(0.25)
        left = probe()
    return left


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """One long-running process in a session of its own, with a pid file and a log file.

    Subclasses build ``argv()`` (and may set ``env``, ``cwd``, ``user``) and say when they are
    ``healthy()``. ``start()`` launches and waits for health; ``stop()`` ends the session
    (``stop_signal`` first, SIGKILL after ``stop_timeout``); ``kill()`` SIGKILLs it at once.
    """

    stop_signal = signal.SIGTERM
    stop_timeout = 40.0
    start_timeout = 90.0

    def __init__(
        self,
        name: str,
        run_dir: Path,
        log_dir: Path,
        *,
        stack_id: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
    ) -> None:
        self.name = name
        self.run_dir = run_dir
        self.log_path = log_dir / f"{name}.log"
        self.pidfile = run_dir / f"{name}.pid"
        self.stack_id = stack_id
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.user = user
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self.starts: list[float] = []  # seconds each start() took until healthy

    # --- what a service is -----------------------------------------------------------------
    def argv(self) -> list[str]:
        """The command line of the service's process."""
        raise NotImplementedError

    def healthy(self) -> bool:
        """Does the service answer now?"""
        return self.running()

    # --- state -------------------------------------------------------------------------------
    def pid(self) -> int | None:
        """The pid in the pid file when that process is alive and is the one we started."""
        return pid_matches(read_pidfile(self.pidfile))

    def running(self) -> bool:
        """Is the process we started alive?"""
        return self.pid() is not None

    def alive(self) -> bool:
        """Same as :meth:`running` (the test fixtures' word)."""
        return self.running()

    # --- start --------------------------------------------------------------------------------
    def launch(self) -> int:
        """Start ``argv()`` in a new session, output appended to the log; returns its pid."""
        argv = self.argv()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ if self.env is None else self.env)
        # PYTHONFAULTHANDLER: a crash in a C extension (librdkafka, psycopg2) logs a traceback.
        env.setdefault("PYTHONFAULTHANDLER", "1")
        if self.stack_id:
            env["LOANSTREAM_STACK_ID"] = self.stack_id
        stamp = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        with self.log_path.open("ab") as out:
            out.write(f"==== {stamp} devstack: starting {self.name}: {' '.join(argv)}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, env=env, cwd=self.cwd, user=self.user,
            )  # fmt: skip
        write_pidfile(self.pidfile, self.proc.pid)
        return self.proc.pid

    def wait_healthy(self, timeout: float | None = None, interval: float = 0.2) -> float:
        """Wait until :meth:`healthy`; raises :class:`ServiceError` when the process exits or
        the time is up. Returns the seconds waited."""
        timeout = self.start_timeout if timeout is None else timeout
        t0 = time.monotonic()
        while True:
            if not self.running():
                raise ServiceError(self.name, "exited during start-up", self.log_path)
            if self.healthy():
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                raise ServiceError(self.name, f"not healthy within {timeout:.0f}s", self.log_path)
            time.sleep(interval)

    def start(self, timeout: float | None = None) -> float:
        """Launch and wait until healthy (on the same data and ports as before); returns the
        seconds it took."""
        assert not self.running(), f"{self.name} already running"
        t0 = time.monotonic()
        self.launch()
        self.wait_healthy(timeout)
        took = time.monotonic() - t0
        self.starts.append(took)
        return took

    # --- stop --------------------------------------------------------------------------------
    def _reap(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)

    def kill(self) -> None:
        """SIGKILL the whole session at once: a crash, nothing flushed or shut down cleanly."""
        pid = self.pid()
        if pid is not None:
            signal_pids([pid, *session_pids([pid])], signal.SIGKILL)
            wait_gone(lambda: session_pids([pid]), 10)
        self._reap()
        self.kills += 1

    def stop(self, timeout: float | None = None) -> None:
        """Stop the service and everything in its session (see :func:`stop_services`)."""
        stop_services([self], self.stop_timeout if timeout is None else timeout)

    def leftovers(self) -> list[int]:
        """Live processes of the session we started last (empty after a clean stop)."""
        recorded = read_pidfile(self.pidfile)
        sid = self.proc.pid if self.proc is not None else (recorded[0] if recorded else None)
        return session_pids([sid]) if sid is not None else []

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the service's log."""
        return log_tail(self.log_path, lines)


def stop_services(
    services: Sequence[Service], timeout: float, say: Callable[[str], None] | None = None
) -> None:
    """Signal each running service's session at once (its ``stop_signal``: a graceful stop;
    Airflow's scheduler ends its own workers), wait for the whole sessions to exit, SIGKILL
    whatever is left after ``timeout``, and remove the pid files."""
    sids = []
    for service in services:
        pid = service.pid()
        if pid is None:
            continue
        if say is not None:
            say(f"{service.name}: stopping (pid {pid})")
        try:
            os.killpg(pid, service.stop_signal)
        except (ProcessLookupError, PermissionError):
            signal_pids([pid], service.stop_signal)
        sids.append(pid)
    if sids:
        left = wait_gone(lambda: session_pids(sids), timeout)
        if left:
            if say is not None:
                names = " ".join(s.name for s in services)
                say(f"{names}: still running after {timeout:.0f}s, SIGKILL: {' '.join(map(str, left))}")
            signal_pids(left, signal.SIGKILL)
            wait_gone(lambda: session_pids(sids), 10)
    for service in services:
        service._reap()
        service.pidfile.unlink(missing_ok=True)


class Fingerprinted:
    """A service restarted when what it runs with changes: its :meth:`fingerprint` (a sha256 of
    its command line and settings) is kept in ``stamp`` (0600) once it has started with them."""

    stamp: Path

    def fingerprint(self) -> str:
        raise NotImplementedError

    def write_stamp(self) -> None:
        self.stamp.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.stamp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(self.fingerprint() + "\n")

    def stamp_current(self) -> bool:
        """Whether the running service started with what it would run with now."""
        try:
            return self.stamp.read_text().strip() == self.fingerprint()
        except (OSError, ServiceError):
            return False
