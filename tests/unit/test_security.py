"""Security checks: credentials only from the environment or Airflow connections, SQL always
parameterised, SASL/TLS settings passed through, and no secrets in logs or error messages.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from loanstream.config import Settings, redact_dsn
from tests.helpers import REPO, temp_schema, temp_topic, write_loans_csv

# -- credentials in tracked files -----------------------------------------------------------

# Files where example credentials are documentation: the env template and prose.
ALLOWED_FILES = {".env.example"}
ALLOWED_SUFFIXES = (".md", ".csv", ".jar", ".png", ".svg", ".ico")
SECRET_WORD = r"(?:password|passwd|pwd|secret|token|api[_-]?key|sasl[._]password)"
PATTERNS = [
    # password = "literal" / "password": "literal" (code, JSON, YAML with quotes)
    re.compile(rf"(?i)\b\w*{SECRET_WORD}\w*[\"']?\s*[=:]\s*[\"']([^\"'\s]{{4,}})[\"']"),
    # PASSWORD=literal (shell, env, YAML without quotes; Python is covered by the quoted form)
    re.compile(rf"(?i)^\s*(?:export\s+|-\s+)?\w*{SECRET_WORD}\w*\s*[=:]\s*([^\s\"'#]{{4,}})\s*$"),
    # scheme://user:literal@host
    re.compile(r"\b[a-z][a-z0-9+.-]*://[^:/\s@\"']+:([^@\s/\"']+)@"),
]


def _placeholder(value: str) -> bool:
    """A value that is not a credential: an env/template reference, a redaction, a name."""
    return (
        value.startswith(("$", "%", "<", "{", "/"))  # env reference, template, file path
        or "{" in value  # f-string / template
        or "***" in value  # already redacted
        or value in {"None", "null", "true", "false", "required", "redacted"}
        or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\[\]()]*", value) is not None
        and not re.search(r"\d", value)
        and value.lower() == value  # a variable / attribute name, not a literal
    )


def _tracked_text_files() -> list[Path]:
    names = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    return [
        REPO / n
        for n in names
        if n not in ALLOWED_FILES
        and not n.endswith(ALLOWED_SUFFIXES)
        and not n.startswith("docs/")
        and (REPO / n).is_file()
    ]


@pytest.mark.unit
def test_no_credential_literals_in_tracked_files() -> None:
    findings = []
    for path in _tracked_text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for lineno, line in enumerate(text.splitlines(), 1):
            for pattern in PATTERNS:
                if pattern is PATTERNS[1] and path.suffix == ".py":
                    continue
                for match in pattern.finditer(line):
                    if not _placeholder(match.group(1)):
                        findings.append(f"{path.relative_to(REPO)}:{lineno}: {line.strip()[:120]}")
    assert not findings, "credential-looking literals:\n" + "\n".join(findings)


@pytest.mark.unit
@pytest.mark.parametrize(
    "line",
    [
        'conn = connect(password="{}")',
        "DB_PASSWORD={}",
        "dsn = 'postgresql://app:{}@db:5432/x'",
        '"sasl.password": "{}"',
    ],
)
def test_the_scan_catches_real_looking_secrets(line: str) -> None:
    secret = "Zq" + uuid.uuid4().hex[:10]  # built at run time: no literal in this file
    text = line.format(secret)
    assert any(not _placeholder(m.group(1)) for p in PATTERNS for m in p.finditer(text)), text


@pytest.mark.unit
def test_env_example_carries_no_password() -> None:
    """No known default: every password is generated into .env by `make up`."""
    from devstack.envfile import GENERATED

    text = (REPO / ".env.example").read_text()
    assert not re.findall(r"(?m)^\s*(?:export\s+)?\w*(?:PASSWORD|SECRET)\w*\s*=", text)
    for name, _ in GENERATED:
        assert name in text, f"{name} is not documented in .env.example"


@pytest.mark.unit
def test_make_up_generates_missing_passwords_and_keeps_existing_ones(tmp_path: Path) -> None:
    from devstack.envfile import GENERATED, ensure_secrets, load

    mine = "Kept" + uuid.uuid4().hex
    (tmp_path / ".env").write_text(f"# mine\nLOANSTREAM_PG_PASSWORD={mine}\nOTHER=1")
    environ = {"AIRFLOW_PG_PASSWORD": uuid.uuid4().hex}  # set in the environment: not written
    written = ensure_secrets(tmp_path, environ)
    names = {name for name, _ in GENERATED}
    assert set(written) == names - {"LOANSTREAM_PG_PASSWORD", "AIRFLOW_PG_PASSWORD"}
    text = (tmp_path / ".env").read_text()
    assert text.startswith(f"# mine\nLOANSTREAM_PG_PASSWORD={mine}\nOTHER=1\n")
    assert (tmp_path / ".env").stat().st_mode & 0o777 == 0o600 or text  # existing file: as it was
    values = load(tmp_path, {})
    generated = [values[name] for name in written]
    assert len(set(generated)) == len(generated) and all(len(v) >= 32 for v in generated)
    assert ensure_secrets(tmp_path, environ) == []  # idempotent: nothing new, nothing changed
    assert (tmp_path / ".env").read_text() == text
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert set(ensure_secrets(fresh, {})) == names
    assert (fresh / ".env").stat().st_mode & 0o777 == 0o600


# -- SQL is parameterised --------------------------------------------------------------------

SQL_CALLS = {"execute", "executemany", "copy_expert", "mogrify", "copy_from", "copy_to"}


def _module_constants(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def _dynamic_parts(node: ast.AST, constants: set[str]) -> list[str]:
    """Names/expressions that make this SQL argument depend on run-time data."""
    if isinstance(node, ast.Constant):
        return []
    if isinstance(node, ast.Name):
        return [] if node.id in constants else [node.id]
    if isinstance(node, ast.JoinedStr):
        return [
            ast.unparse(v.value)
            for v in node.values
            if isinstance(v, ast.FormattedValue) and _dynamic_parts(v.value, constants)
        ]
    if isinstance(node, ast.BinOp):
        return _dynamic_parts(node.left, constants) + _dynamic_parts(node.right, constants)
    if isinstance(node, ast.Call):
        # trusted DDL: loanstream.store.migrations runs the project's include/sql/migrations files
        if ast.unparse(node) == "migration.sql()":
            return []
        return [ast.unparse(node)]
    return [ast.unparse(node)]


@pytest.mark.unit
def test_sql_is_parameterised_in_plugins() -> None:
    """No execute() whose SQL text is built from run-time values (f-string, %, +, format)."""
    problems = []
    calls = 0
    for path in sorted((REPO / "plugins" / "loanstream").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        constants = _module_constants(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in SQL_CALLS
                and node.args
            ):
                calls += 1
                dynamic = _dynamic_parts(node.args[0], constants)
                if dynamic:
                    rel = path.relative_to(REPO)
                    problems.append(f"{rel}:{node.lineno}: SQL built from {dynamic}")
    assert calls >= 10, "the scan found the sink's SQL calls"
    assert not problems, "\n".join(problems)


@pytest.mark.unit
def test_module_sql_constants_are_built_from_constant_column_names() -> None:
    """The f-string SQL constants of the sink interpolate only module-level constants."""
    from loanstream import sink
    from loanstream.sink import writer

    tree = ast.parse(Path(writer.__file__).read_text())
    constants = _module_constants(tree)
    checked = 0
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.JoinedStr):
            assert not _dynamic_parts(node.value, constants), ast.unparse(node)[:80]
            checked += 1
    assert checked >= 3, "the scan found the writer's f-string SQL constants"
    assert all(re.fullmatch(r"[a-z_0-9]+", c) for c in sink.ROW_COLUMNS)


@pytest.mark.unit
def test_the_sql_scan_flags_an_f_string_with_user_data() -> None:
    tree = ast.parse('def f(cur, loan_id):\n    cur.execute(f"DELETE FROM t WHERE id = {loan_id}")')
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call))
    assert _dynamic_parts(call.args[0], _module_constants(tree)) == ["loan_id"]
    tree = ast.parse('def f(cur, x):\n    cur.execute("SELECT %s" % x)')
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call))
    assert _dynamic_parts(call.args[0], set()) == ["x"]


# -- Kafka SASL/TLS pass-through ----------------------------------------------------------

SECURITY_ENV = {
    "LOANSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "LOANSTREAM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "LOANSTREAM_KAFKA_SASL_USERNAME": "svc-loanstream",
    "LOANSTREAM_KAFKA_SSL_CA_LOCATION": "/etc/ssl/kafka-ca.pem",
}


@pytest.mark.unit
def test_settings_from_env_pass_sasl_and_tls_through(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = uuid.uuid4().hex
    for var, value in {**SECURITY_ENV, "LOANSTREAM_KAFKA_SASL_PASSWORD": secret}.items():
        monkeypatch.setenv(var, value)
    monkeypatch.setenv("LOANSTREAM_BOOTSTRAP_SERVERS", "broker-1:9094")
    config = Settings.from_env().kafka_config(**{"group.id": "g"})
    assert config == {
        "bootstrap.servers": "broker-1:9094",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "svc-loanstream",
        "sasl.password": secret,
        "ssl.ca.location": "/etc/ssl/kafka-ca.pem",
        "group.id": "g",
    }


@pytest.mark.unit
def test_settings_without_security_env_are_plaintext(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in [*SECURITY_ENV, "LOANSTREAM_KAFKA_SASL_PASSWORD", "LOANSTREAM_KAFKA_CLIENT_CONFIG"]:
        monkeypatch.delenv(var, raising=False)
    assert set(Settings.from_env().kafka_config()) == {"bootstrap.servers"}


def _connection(**kwargs):
    from airflow.sdk import Connection

    return Connection(**kwargs)


def _use_connection(monkeypatch: pytest.MonkeyPatch, conn) -> None:
    """The loanstream hooks find ``conn`` (or, for None, no connection at all)."""
    from airflow.sdk.exceptions import AirflowNotFoundException

    from loanstream.airflow import hooks

    def get_connection(conn_id: str):
        if conn is None:
            raise AirflowNotFoundException(f"The conn_id `{conn_id}` isn't defined")
        return conn

    for hook in (hooks.LoanstreamKafkaHook, hooks.LoanstreamPostgresHook):
        monkeypatch.setattr(hook, "get_connection", staticmethod(get_connection))


@pytest.mark.unit
def test_airflow_kafka_connection_passes_sasl_and_tls_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from loanstream.airflow import hooks

    secret = uuid.uuid4().hex
    extra = {
        "bootstrap.servers": "kafka-a:9094,kafka-b:9094",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-256",
        "sasl.username": "svc",
        "sasl.password": secret,
        "ssl.ca.location": "/ca.pem",
        "ssl.endpoint.identification.algorithm": "https",
    }
    _use_connection(
        monkeypatch,
        _connection(conn_id="loanstream_kafka", conn_type="kafka", extra=json.dumps(extra)),
    )
    assert hooks.kafka_config(check=False) == extra
    # the provider's test_connection and clients see the same config
    assert hooks.LoanstreamKafkaHook()._build_config() == extra


@pytest.mark.unit
def test_airflow_kafka_connection_host_port_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    from loanstream.airflow import hooks

    conn = _connection(
        conn_id="k", conn_type="kafka", host="kafka.internal", port=9093,
        extra=json.dumps({"security.protocol": "SSL"}),
    )  # fmt: skip
    _use_connection(monkeypatch, conn)
    assert hooks.kafka_config("k", check=False) == {
        "bootstrap.servers": "kafka.internal:9093",
        "security.protocol": "SSL",
    }


@pytest.mark.unit
def test_a_missing_connection_fails_naming_it_unless_env_fallback_is_chosen(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A misspelled conn id fails the task (no retry) naming it; ``env`` is explicit + logged."""
    from loanstream.airflow import hooks

    _use_connection(monkeypatch, None)
    monkeypatch.delenv("LOANSTREAM_CONNECTION_FALLBACK", raising=False)
    for call in (lambda: hooks.kafka_config("loanstream_kafak", check=False),
                 lambda: hooks.postgres_dsn("loanstream_postgress")):  # fmt: skip
        with pytest.raises(
            hooks.MissingConnection,
            match=r"connection 'loanstream_(kafak|postgress)' does not exist",
        ):
            call()
    for var, value in SECURITY_ENV.items():
        monkeypatch.setenv(var, value)
    monkeypatch.setenv("LOANSTREAM_CONNECTION_FALLBACK", "env")
    monkeypatch.setenv("LOANSTREAM_PG_DSN", "postgresql://u@db:5432/x")
    with caplog.at_level("WARNING"):
        config = hooks.kafka_config("nope", check=False)
        assert hooks.postgres_dsn("nope") == "postgresql://u@db:5432/x"
    assert config["security.protocol"] == "SASL_SSL"
    assert config["ssl.ca.location"] == "/etc/ssl/kafka-ca.pem"
    logged = caplog.text + capsys.readouterr().out  # Airflow's structlog writes to stdout
    assert "connection 'nope' does not exist: using LOANSTREAM_BOOTSTRAP_SERVERS" in logged
    assert "connection 'nope' does not exist: using LOANSTREAM_PG_DSN" in logged
    monkeypatch.setenv("LOANSTREAM_CONNECTION_FALLBACK", "maybe")
    with pytest.raises(Exception, match="expected 'none' or 'env'"):
        hooks.kafka_config("nope", check=False)


@pytest.mark.unit
def test_a_secured_kafka_connection_is_checked_once_and_a_refusal_fails_the_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """kafka_config() asks a SASL/SSL listener once per process and config; a refusal becomes
    AirflowFailException (no retry can fix a wrong password) without the secret."""
    from airflow.sdk.exceptions import AirflowFailException

    from loanstream.airflow import hooks
    from loanstream.kafka import access as kafka_access

    secret = uuid.uuid4().hex
    extra = {"bootstrap.servers": f"k-{secret[:6]}:9094", "security.protocol": "SASL_SSL",
             "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "u", "sasl.password": secret}  # fmt: skip
    _use_connection(
        monkeypatch, _connection(conn_id="k", conn_type="kafka", extra=json.dumps(extra))
    )
    calls: list[dict] = []
    monkeypatch.setattr(kafka_access, "check_access", lambda config: calls.append(config))
    assert hooks.kafka_config("k") == extra
    assert hooks.kafka_config("k") == extra
    assert len(calls) == 1  # cached for this process and config

    def refuse(config: dict) -> None:
        raise kafka_access.KafkaAccessError(
            f"Kafka {kafka_access.describe_listener(config)}: authentication failed"
        )

    monkeypatch.setattr(kafka_access, "check_access", refuse)
    extra["sasl.password"] = "other-" + secret
    _use_connection(
        monkeypatch, _connection(conn_id="k", conn_type="kafka", extra=json.dumps(extra))
    )
    with pytest.raises(AirflowFailException, match="SASL_SSL listener k-") as info:
        hooks.kafka_config("k")
    assert secret not in str(info.value)


@pytest.mark.unit
def test_airflow_postgres_connection_dsn_quotes_keeps_ssl_extras_and_redacts_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import psycopg2.extensions

    from loanstream.airflow import hooks

    odd = "".join(["p@ss ", ":w/rd%'", uuid.uuid4().hex[:6]])  # URL- and libpq-hostile
    conn = _connection(
        conn_id="pg", conn_type="postgres", host="db", port=5432, login="ls",
        password=odd, schema="loanstream",
        extra=json.dumps({"sslmode": "verify-full", "sslrootcert": "/ca.pem", "cursor": "dictcursor"}),
    )  # fmt: skip
    _use_connection(monkeypatch, conn)
    dsn = hooks.postgres_dsn("pg")
    parsed = psycopg2.extensions.parse_dsn(dsn)
    assert parsed["password"] == odd and parsed["host"] == "db" and parsed["user"] == "ls"
    assert parsed["sslmode"] == "verify-full" and parsed["sslrootcert"] == "/ca.pem"
    assert "cursor" not in parsed  # the provider's own options are not libpq's
    assert odd not in redact_dsn(dsn) and "***" in redact_dsn(dsn)
    assert "w/rd" not in redact_dsn(dsn)


# -- redaction -----------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(
    "template",
    [
        "postgresql://loanstream:{}@127.0.0.1:5433/loanstream",
        "postgresql://loanstream:{}@127.0.0.1:5433/loanstream?options=-csearch_path%3Dt",
        "postgres://u:{}@[::1]:5432/db",
        "host=127.0.0.1 port=5433 user=loanstream password={} dbname=loanstream",
        "host=127.0.0.1 PASSWORD={} dbname=x",
    ],
)
def test_redact_dsn_hides_the_password(template: str) -> None:
    secret = "Pw" + uuid.uuid4().hex[:12]
    redacted = redact_dsn(template.format(secret))
    assert secret not in redacted and "***" in redacted
    assert "127.0.0.1" in redacted or "::1" in redacted


@pytest.mark.unit
def test_redact_dsn_keeps_a_passwordless_dsn() -> None:
    dsn = "postgresql://loanstream@127.0.0.1:5433/loanstream"
    assert redact_dsn(dsn) == dsn


@pytest.mark.unit
def test_redact_dsn_hides_a_query_string_password() -> None:
    secret = "Pw" + uuid.uuid4().hex[:12]
    assert secret not in redact_dsn(f"postgresql://u@h:5432/db?password={secret}")


# -- no secrets in logs ----------------------------------------------------------------------


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-m", "loanstream.cli", "-v", *args],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=180, cwd=REPO,
    )  # fmt: skip


@pytest.mark.integration
def test_produce_and_consume_logs_never_contain_the_postgres_password(
    shared_csv: Path, tmp_path: Path
) -> None:
    from urllib.parse import unquote, urlsplit

    settings = Settings.from_env()
    password = unquote(urlsplit(settings.pg_dsn).password or "")
    assert password, "the stack's DSN carries a password (LOANSTREAM_PG_DSN)"
    csv = tmp_path / "loans.csv"
    write_loans_csv(csv, shared_csv, 50)
    with temp_topic(settings, partitions=1) as topic, temp_schema(settings) as dsn:
        env = {"LOANSTREAM_PG_DSN": dsn, "LOANSTREAM_BOOTSTRAP_SERVERS": settings.bootstrap_servers}
        produced = _cli("produce", "--allow-any-path", "--csv", str(csv), "--topic", topic, env=env)
        consumed = _cli("consume", "--topic", topic, "--group", topic, env=env)
    # and a failing run: Postgres unreachable, the DSN (with a password) in the error path
    bad_secret = "Pw" + uuid.uuid4().hex
    failed = _cli(
        "consume", "--topic", "none",
        env={"LOANSTREAM_PG_DSN": f"postgresql://ls:{bad_secret}@127.0.0.1:1/x"},
    )  # fmt: skip
    assert produced.returncode == 0, produced.stderr[-2000:]
    assert consumed.returncode == 0, consumed.stderr[-2000:]
    assert json.loads(consumed.stdout.splitlines()[-1])["scored"] == 50
    for run in (produced, consumed):
        assert password not in run.stdout + run.stderr
    assert failed.returncode != 0
    assert bad_secret not in failed.stdout + failed.stderr
