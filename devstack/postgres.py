"""PostgreSQL (Debian's server binaries): ``initdb`` once, then ``postgres`` in a session of
its own, run as an unprivileged OS user (the server refuses root).

The only place in the tree that runs ``initdb`` and starts a server. The shared stack gives it
``.local/postgres`` (scram-sha-256 over TCP, peer over the socket; roles and databases from
:func:`provision`); the tests' private servers a temp directory and trust auth.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from devstack.process import Service, ServiceError, log, stat

PROVISION_SQL = r"""
\getenv ls_user LS_PG_USER
\getenv ls_db LS_PG_DB
\getenv ls_pw LS_PG_PW
\getenv af_user AF_PG_USER
\getenv af_db AF_PG_DB
\getenv af_pw AF_PG_PW
SELECT format('CREATE ROLE %I LOGIN', :'ls_user') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'ls_user') \gexec
ALTER ROLE :"ls_user" WITH LOGIN PASSWORD :'ls_pw';
SELECT format('CREATE DATABASE %I OWNER %I', :'ls_db', :'ls_user') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'ls_db') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'af_user') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'af_user') \gexec
ALTER ROLE :"af_user" WITH LOGIN PASSWORD :'af_pw';
SELECT format('CREATE DATABASE %I OWNER %I', :'af_db', :'af_user') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'af_db') \gexec
"""
# The schema registry's role and database (devstack.registry): run before every registry start,
# so a Postgres provisioned before the registry existed gets them too. The registry makes its
# own tables in it on its first start.
REGISTRY_SQL = r"""
\getenv rg_user RG_PG_USER
\getenv rg_db RG_PG_DB
\getenv rg_pw RG_PG_PW
SELECT format('CREATE ROLE %I LOGIN', :'rg_user') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'rg_user') \gexec
ALTER ROLE :"rg_user" WITH LOGIN PASSWORD :'rg_pw';
SELECT format('CREATE DATABASE %I OWNER %I', :'rg_db', :'rg_user') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'rg_db') \gexec
"""


def pg_bin() -> Path:
    """Debian's server binaries: ``LOANSTREAM_PG_BIN``, else the newest /usr/lib/postgresql/*/bin."""
    configured = os.environ.get("LOANSTREAM_PG_BIN", "")
    candidates = [Path(configured)] if configured else []
    if not candidates:
        versions = sorted(
            Path("/usr/lib/postgresql").glob("*/bin"),
            key=lambda p: [int(x) for x in p.parent.name.split(".") if x.isdigit()],
        )
        candidates = versions[-1:]
    for path in candidates:
        if (path / "pg_ctl").is_file():
            return path
    raise ServiceError("postgres", "no PostgreSQL server binaries: run `make setup` first")


def os_user() -> str | None:
    """The OS user the server runs as: ``postgres`` when we are root, else None (ourselves)."""
    return "postgres" if os.geteuid() == 0 else None


def chown_to(path: Path, user: str | None) -> None:
    """Give ``path`` to ``user`` (nothing when None)."""
    if user is not None:
        shutil.chown(path, user, user)


class Postgres(Service):
    """A server with its data in ``base/data`` and its socket in ``base/socket``.

    ``auth``: ``"trust"`` (a throwaway test instance) or ``"scram"`` (peer over the socket,
    scram-sha-256 over TCP). Stopped with SIGINT: Postgres's fast shutdown.
    """

    stop_signal = signal.SIGINT
    start_timeout = 60.0

    def __init__(
        self,
        base: Path,
        port: int,
        *,
        host: str = "127.0.0.1",
        auth: str = "trust",
        max_connections: int = 100,
        log_dir: Path | None = None,
        run_dir: Path | None = None,
        stack_id: str | None = None,
    ) -> None:
        user = os_user()
        super().__init__("postgres", run_dir or base, log_dir or base, stack_id=stack_id,
                         cwd=base, user=user)  # fmt: skip
        self.base = base
        self.port = port
        self.host = host
        self.auth = auth
        self.max_connections = max_connections
        self.data = base / "data"
        self.socket_dir = base / "socket"
        self.superuser = user or subprocess.run(
            ["id", "-un"], capture_output=True, text=True, check=True
        ).stdout.strip()

    @property
    def dsn(self) -> str:
        """The superuser's DSN over TCP (trust auth only)."""
        return f"postgresql://{self.superuser}@{self.host}:{self.port}/postgres"

    def initialized(self) -> bool:
        return (self.data / "PG_VERSION").is_file()

    def initdb(self) -> None:
        """Create the cluster (once), owned by the server's OS user; logged to the log file."""
        self.base.mkdir(parents=True, exist_ok=True)
        chown_to(self.base, self.user)
        self.socket_dir.mkdir(exist_ok=True)
        chown_to(self.socket_dir, self.user)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.touch()
        if self.initialized():
            return
        auth = ["--auth=trust"] if self.auth == "trust" else [
            "--auth-local=peer", "--auth-host=scram-sha-256"]  # fmt: skip
        with self.log_path.open("ab") as out:
            result = subprocess.run(
                [str(pg_bin() / "initdb"), "-D", str(self.data), "-U", self.superuser, "-E", "UTF8",
                 "--locale=C.UTF-8", *auth],
                user=self.user, cwd=self.base, stdout=out, stderr=subprocess.STDOUT, timeout=120,
                check=False,
            )  # fmt: skip
        if result.returncode != 0:
            raise ServiceError(self.name, "initdb failed", self.log_path)

    def argv(self) -> list[str]:
        return [
            str(pg_bin() / "postgres"), "-D", str(self.data), "-p", str(self.port),
            "-k", str(self.socket_dir), "-c", f"listen_addresses={self.host}",
            "-c", f"max_connections={self.max_connections}",
        ]  # fmt: skip

    def healthy(self) -> bool:
        """``pg_isready``: the server accepts connections."""
        result = subprocess.run(
            [str(pg_bin() / "pg_isready"), "-q", "-h", self.host, "-p", str(self.port), "-t", "2"],
            check=False,
        )
        return result.returncode == 0

    def psql(self, sql: str, env: dict[str, str], database: str = "postgres") -> None:
        """Run ``sql`` as the superuser over the socket (``ON_ERROR_STOP``), logged."""
        with self.log_path.open("ab") as out:
            result = subprocess.run(
                [str(pg_bin() / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.socket_dir),
                 "-p", str(self.port), "-U", self.superuser, "-d", database],
                input=sql.encode(), env={**os.environ, **env}, user=self.user, cwd="/",
                stdout=out, stderr=subprocess.STDOUT, check=False,
            )  # fmt: skip
        if result.returncode != 0:
            raise ServiceError(self.name, "creating roles/databases failed", self.log_path)


def provision(pg: Postgres, env: dict[str, str]) -> None:
    """Roles and databases for loanstream and Airflow (passwords re-applied on every start)."""
    pg.psql(
        PROVISION_SQL,
        {
            "LS_PG_USER": env["LOANSTREAM_PG_USER"],
            "LS_PG_DB": env["LOANSTREAM_PG_DB"],
            "LS_PG_PW": env.get("LOANSTREAM_PG_PASSWORD", ""),
            "AF_PG_USER": env["AIRFLOW_PG_USER"],
            "AF_PG_DB": env["AIRFLOW_PG_DB"],
            "AF_PG_PW": env.get("AIRFLOW_PG_PASSWORD", ""),
        },
    )


def provision_registry(pg: Postgres, user: str, database: str, password: str) -> None:
    """The schema registry's role (password re-applied) and database, owned by the role."""
    pg.psql(REGISTRY_SQL, {"RG_PG_USER": user, "RG_PG_DB": database, "RG_PG_PW": password})


def remove_stale_base(base: Path) -> None:
    """Remove a cluster left in ``base`` by an earlier checkout at this path that is gone (its
    ``.local``, which would have named ``base``, went with it, and so did the secrets its
    databases were made with: Airflow could not read its own connections). A server still
    running from it is a ``ServiceError`` naming its pid, never removed under it."""
    pidfile = base / "data" / "postmaster.pid"  # Postgres's own: the pid on its first line
    try:
        pid: int | None = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        pid = None
    if pid is not None and stat(pid) is not None:
        raise ServiceError(
            "postgres", f"{base} holds the cluster of an earlier checkout at this path, and its "
            f"server still runs (pid {pid}): stop it (`kill {pid}`), then `make up` again",
        )  # fmt: skip
    log(f"postgres: removing {base}, left by an earlier checkout at this path")
    shutil.rmtree(base)


def shared_base(local: Path, stack_id: str) -> Path:
    """Where the shared stack's cluster lives: ``.local/postgres`` when the server's OS user
    can reach it (and the socket path stays under the 107-byte limit), else
    ``/var/tmp/loanstream-<stack id>`` (a cluster found there without this choice remembered
    is an earlier checkout's: removed). The choice is remembered in ``.local/postgres-base``."""
    remembered = local / "postgres-base"
    if remembered.is_file():
        return Path(remembered.read_text().strip())
    user = os_user()
    base = local / "postgres"
    base.mkdir(parents=True, exist_ok=True)
    chown_to(base, user)
    base.chmod(0o700)
    reachable = subprocess.run(
        ["test", "-w", str(base)], user=user, cwd="/", check=False
    ).returncode == 0
    if not reachable or len(str(base)) > 80:
        base.rmdir()
        base = Path(f"/var/tmp/loanstream-{stack_id}")
        if base.exists():
            remove_stale_base(base)
        base.mkdir(parents=True, exist_ok=True)
        chown_to(base, user)
        base.chmod(0o700)
    remembered.write_text(f"{base}\n")
    return base
