"""The schema registry: Apicurio Registry (Apache-2.0), its Quarkus application from Maven
Central (``make setup``: ``scripts/setup.sh registry`` unpacks it into ``.local/registry/app``),
run with ``java -jar quarkus-run.jar`` on a Java of 21 or newer.

Its REST API (and the Confluent-compatible one, ``/apis/ccompat/v7``, which loanstream's
clients use) listens on 127.0.0.1:``LOANSTREAM_SCHEMA_REGISTRY_PORT``, its management
interface (``/health/ready``, metrics) on 127.0.0.1:``LOANSTREAM_SCHEMA_REGISTRY_MANAGEMENT_PORT``.
Schemas are stored in the stack's Postgres: database and role ``registry`` (its tables are
made by the registry itself on its first start), password ``LOANSTREAM_SCHEMA_REGISTRY_PG_PASSWORD``
(generated into ``.env``), handed to the JVM in its environment, never on its command line.

``python3 -m devstack.registry java`` prints the Java it would run (``make setup`` checks it with
the system Python: this module imports only the standard library and devstack's own).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from devstack.config import ROOT
from devstack.process import Fingerprinted, Service, ServiceError

REGISTRY_HOME = ROOT / ".local" / "registry"
APP_DIR = REGISTRY_HOME / "app"
MIN_JAVA = 21
JAVA_SETTING = "LOANSTREAM_SCHEMA_REGISTRY_JAVA"
CCOMPAT_PATH = "/apis/ccompat/v7"
# what the JVM gets of the caller's environment (everything else it needs is APICURIO_*)
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")
JAVA_HELP = (
    f"the schema registry (Apicurio Registry 3) needs Java {MIN_JAVA} or newer, and none was found "
    f"in ${JAVA_SETTING}, $JAVA_HOME, /usr/lib/jvm/* or PATH. Install one and run `make setup` "
    f"again: on Debian 13 `apt-get install openjdk-21-jre-headless` (or openjdk-25-jre-headless); "
    f"Debian 12 has no such package: install a JDK {MIN_JAVA}+ (e.g. Eclipse Temurin) under "
    f"/usr/lib/jvm, or set {JAVA_SETTING} to its bin/java (or its home directory)"
)


# --- Java ------------------------------------------------------------------------------------
def parse_java_version(text: str) -> int | None:
    """The major version in ``java -version`` output (``"1.8.0_402"`` is 8), or None."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def java_major(java: Path) -> int | None:
    """The major version of the ``java`` binary at ``java`` (None: not a working Java)."""
    release = java.resolve().parent.parent / "release"  # a JDK's JAVA_VERSION="25.0.1"
    try:
        found = re.search(r'^JAVA_VERSION="([^"]+)"', release.read_text(), re.MULTILINE)
    except OSError:
        found = None
    if found is not None:
        return parse_java_version(f'version "{found.group(1)}"')
    try:
        result = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_java_version(result.stderr + result.stdout) if result.returncode == 0 else None


def as_java(path: Path) -> Path:
    """A Java home directory's ``bin/java``; a binary as it is."""
    return path / "bin" / "java" if path.is_dir() else path


def java_candidates(env: Mapping[str, str], jvm_dir: Path = Path("/usr/lib/jvm")) -> list[Path]:
    """Where to look, in order: ``$JAVA_HOME``, ``/usr/lib/jvm/*`` (newest name first), PATH
    (``$LOANSTREAM_SCHEMA_REGISTRY_JAVA``, when set, is the only candidate: see :func:`find_java`)."""
    out: list[Path] = []
    if env.get("JAVA_HOME"):
        out.append(as_java(Path(env["JAVA_HOME"])))
    homes = sorted(jvm_dir.glob("*/bin/java"), key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.parent.name)])
    out += reversed(homes)
    on_path = shutil.which("java", path=env.get("PATH"))
    if on_path:
        out.append(Path(on_path))
    seen: set[Path] = set()
    unique = []
    for java in out:
        key = java.resolve()
        if key not in seen and java.is_file():
            seen.add(key)
            unique.append(java)
    return unique


def find_java(env: Mapping[str, str], jvm_dir: Path = Path("/usr/lib/jvm")) -> Path:
    """The Java to run the registry with: ``$LOANSTREAM_SCHEMA_REGISTRY_JAVA`` if set (it must be
    21+), else the first candidate of :func:`java_candidates` that is 21+; raises
    :class:`ServiceError` saying what to install otherwise."""
    configured = env.get(JAVA_SETTING, "").strip()
    if configured:
        java = as_java(Path(configured))
        major = java_major(java)
        if major is None or major < MIN_JAVA:
            found = "not a working Java" if major is None else f"Java {major}"
            raise ServiceError("schema-registry", f"{JAVA_SETTING}={configured}: {found}, want {MIN_JAVA}+")
        return java
    for java in java_candidates(env, jvm_dir):
        major = java_major(java)
        if major is not None and major >= MIN_JAVA:
            return java
    raise ServiceError("schema-registry", JAVA_HELP)


# --- the process ------------------------------------------------------------------------------
def jar_path(app_dir: Path = APP_DIR) -> Path:
    """The runnable application ``make setup`` unpacked."""
    return app_dir / "quarkus-run.jar"


def registry_argv(java: Path, jar: Path, port: int, management_port: int, *, host: str = "127.0.0.1",
                  heap: Sequence[str] = ("-Xms128m", "-Xmx512m"), log_dir: Path | None = None) -> list[str]:  # fmt: skip
    """``java ... -jar quarkus-run.jar``: HTTP API and management interface on ``host`` only.
    No credentials here (see :func:`registry_env`)."""
    error_file = [f"-XX:ErrorFile={log_dir}/schema-registry-hs_err_%p.log"] if log_dir else []
    return [
        str(java), *heap, *error_file, "-Djava.awt.headless=true",
        f"-Dquarkus.http.host={host}", f"-Dquarkus.http.port={port}",
        f"-Dquarkus.management.host={host}", f"-Dquarkus.management.port={management_port}",
        "-jar", str(jar),
    ]  # fmt: skip


def jdbc_url(pg_host: str, pg_port: int, database: str) -> str:
    """The registry's JDBC URL of its Postgres database."""
    return f"jdbc:postgresql://{pg_host}:{pg_port}/{database}"


def registry_env(base: Mapping[str, str], url: str, user: str, password: str, pool: int = 4) -> dict[str, str]:
    """The JVM's whole environment: a few of ``base``'s variables and Apicurio's SQL storage
    settings (MicroProfile Config reads ``APICURIO_DATASOURCE_URL`` as
    ``apicurio.datasource.url``), the password among them; a small connection pool."""
    env = {k: base[k] for k in PASSED_ENV if k in base}
    env.update({
        "APICURIO_STORAGE_KIND": "sql",
        "APICURIO_STORAGE_SQL_KIND": "postgresql",
        "APICURIO_DATASOURCE_URL": url,
        "APICURIO_DATASOURCE_USERNAME": user,
        "APICURIO_DATASOURCE_PASSWORD": password,
        "APICURIO_DATASOURCE_JDBC_INITIAL_SIZE": "1",
        "APICURIO_DATASOURCE_JDBC_MIN_SIZE": "1",
        "APICURIO_DATASOURCE_JDBC_MAX_SIZE": str(pool),
    })  # fmt: skip
    return env


def ready(management_url: str, timeout: float = 2.0) -> bool:
    """Does ``/health/ready`` of the management interface answer status UP?"""
    try:
        with urllib.request.urlopen(f"{management_url}/health/ready", timeout=timeout) as resp:
            return resp.status == 200 and json.load(resp).get("status") == "UP"
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False


class SchemaRegistry(Fingerprinted, Service):
    """Apicurio Registry on 127.0.0.1:``port`` (management ``management_port``), its schemas in
    the Postgres database of ``jdbc_url``. Service ``schema-registry``."""

    start_timeout = 120.0
    stop_timeout = 30.0

    def __init__(
        self,
        port: int,
        management_port: int,
        *,
        jdbc_url: str,
        user: str,
        password: str,
        run_dir: Path,
        log_dir: Path,
        java: Path | None = None,
        home: Path = REGISTRY_HOME,
        app_dir: Path = APP_DIR,
        heap: Sequence[str] = ("-Xms128m", "-Xmx512m"),
        base_env: Mapping[str, str] | None = None,
        stack_id: str | None = None,
    ) -> None:
        base = dict(os.environ if base_env is None else base_env)
        env = registry_env(base, jdbc_url, user, password)
        # cwd: Quarkus reads ./.env and ./config/application.properties; never the project's .env
        super().__init__("schema-registry", run_dir, log_dir, stack_id=stack_id, env=env, cwd=home)
        self._java = java
        self._base_env = base
        self.port = port
        self.management_port = management_port
        self.home = home
        self.jar = jar_path(app_dir)
        self.heap = tuple(heap)
        self.stamp = run_dir / "schema-registry.config.sha256"

    @property
    def java(self) -> Path:
        """The Java it runs on (found by :func:`find_java` when not given)."""
        if self._java is None:
            self._java = find_java(self._base_env)
        return self._java

    @property
    def url(self) -> str:
        """The registry's root URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ccompat_url(self) -> str:
        """The Confluent-compatible API (``LOANSTREAM_SCHEMA_REGISTRY_URL``)."""
        return self.url + CCOMPAT_PATH

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.management_port}"

    def argv(self) -> list[str]:
        if not self.jar.is_file():
            raise ServiceError(self.name, f"no {self.jar}: run `make setup` first (step registry)")
        self.home.mkdir(parents=True, exist_ok=True)
        return registry_argv(self.java, self.jar, self.port, self.management_port, heap=self.heap,
                             log_dir=self.log_path.parent)  # fmt: skip

    def healthy(self) -> bool:
        return ready(self.management_url)

    # --- what it runs with: a changed port, Java or password restarts it ----------------------
    def fingerprint(self) -> str:
        """sha256 of its command line and Apicurio settings (the password among them; not the
        PATH or locale of whoever ran ``make up``)."""
        env = {k: v for k, v in (self.env or {}).items() if k.startswith("APICURIO_")}
        text = "\0".join([*self.argv(), *(f"{k}={env[k]}" for k in sorted(env))])
        return hashlib.sha256(text.encode()).hexdigest()


def main(argv: Iterable[str]) -> int:
    """``java``: print the Java 21+ the registry runs on, or why there is none (exit 1)."""
    if list(argv) != ["java"]:
        print("usage: python3 -m devstack.registry java", file=sys.stderr)
        return 2
    try:
        java = find_java(os.environ)
    except ServiceError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    print(f"{java} (Java {java_major(java)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
