"""docker-compose.yml and Dockerfile: services, ports, mounts, health checks, start order.

No Docker engine runs on the reference machine, so the file is checked as data; when a
docker CLI with the compose plugin is present, `docker compose config` validates it too.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
)
EXPECTED = ("redpanda", "redpanda-console", "postgres", "airflow-init", *AIRFLOW_SERVICES,
            "prometheus-config", "prometheus")  # fmt: skip
CLUSTER = ("redpanda-2", "redpanda-3", "redis", "airflow-worker-1", "airflow-worker-2")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def host_ports(service: dict) -> dict[int, int]:
    """{host port: container port} from "[ip:]host:container" entries."""
    ports = {}
    for entry in service.get("ports", []):
        parts = str(entry).split(":")
        ports[int(parts[-2])] = int(parts[-1].split("/")[0])
    return ports


def test_all_services_present(compose: dict) -> None:
    assert set(EXPECTED) <= set(compose["services"])


def test_host_ports(compose: dict) -> None:
    services = compose["services"]
    assert host_ports(services["redpanda"]) == {9092: 9092}
    assert host_ports(services["postgres"]) == {5433: 5432}
    assert host_ports(services["airflow-apiserver"]) == {8080: 8080}
    console = host_ports(services["redpanda-console"])
    assert 8080 not in console and set(console) & {8081, 8088}, console
    used = [p for s in services.values() for p in host_ports(s)]
    assert len(used) == len(set(used)), f"host port used twice: {used}"
    for name, service in services.items():
        for entry in service.get("ports", []):
            assert str(entry).startswith("127.0.0.1:"), f"{name} publishes beyond loopback: {entry}"


def test_redpanda_listeners(compose: dict) -> None:
    command = " ".join(compose["services"]["redpanda"]["command"])
    assert "internal://redpanda:29092" in command and "external://127.0.0.1:9092" in command
    # Redpanda's built-in schema registry: LOANSTREAM_SCHEMA_REGISTRY_URL inside the network
    assert "--schema-registry-addr=internal://0.0.0.0:8081" in command
    assert (
        compose["services"]["redpanda-console"]["environment"]["KAFKA_BROKERS"] == "redpanda:29092"
    )


def test_airflow_services_share_image_env_and_mounts(compose: dict) -> None:
    for name in ("airflow-init", *AIRFLOW_SERVICES):
        service = compose["services"][name]
        assert service["build"] == "." and service["image"].startswith("loanstream-airflow")
        mounts = {m.split(":")[1] for m in service["volumes"]}
        assert {"/opt/airflow/dags", "/opt/airflow/plugins", "/opt/airflow/include",
                "/opt/airflow/data/landing"} <= mounts, name  # fmt: skip
        env = service["environment"]
        assert env["LOANSTREAM_BOOTSTRAP_SERVERS"] == "${LOANSTREAM_COMPOSE_BOOTSTRAP:-redpanda:29092}"
        assert env["LOANSTREAM_PG_HOST"] == "postgres"
        assert env["LOANSTREAM_SCHEMA_REGISTRY_URL"] == "http://redpanda:8081"
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith(
            "postgresql+psycopg2://airflow:"
        )
        assert "@postgres:5432/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "${LOANSTREAM_COMPOSE_EXECUTOR:-LocalExecutor}"
        assert "@redis:6379/0" in env["AIRFLOW__CELERY__BROKER_URL"]
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://airflow:")
        assert (
            env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
            == "http://airflow-apiserver:8080/execution/"
        )
        env_files = [e["path"] if isinstance(e, dict) else e for e in service["env_file"]]
        assert ".env.example" in env_files and ".env" in env_files


def test_healthchecks(compose: dict) -> None:
    services = compose["services"]
    for name in ("redpanda", "postgres", *AIRFLOW_SERVICES):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    assert "rpk cluster health" in " ".join(services["redpanda"]["healthcheck"]["test"])
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "/api/v2/monitor/health" in " ".join(
        services["airflow-apiserver"]["healthcheck"]["test"]
    )


def test_cluster_profile_three_redpanda_nodes_redis_and_two_workers(compose: dict) -> None:
    services = compose["services"]
    for name in CLUSTER:
        assert services[name]["profiles"] == ["cluster"], name
    for name in EXPECTED:
        assert "profiles" not in services[name], f"{name} must run without a profile"
    # three brokers: one seed (the default node, a cluster of one on its own), two joining it
    nodes = ("redpanda", "redpanda-2", "redpanda-3")
    commands = {n: " ".join(services[n]["command"]) for n in nodes}
    assert all("--seeds=redpanda:33145" in c for c in commands.values()), commands
    ids = [c.split("--node-id=")[1].split()[0] for c in commands.values() if "--node-id=" in c]
    assert sorted(ids) == ["2", "3"]
    external = {n: host_ports(services[n]) for n in nodes}
    assert external == {"redpanda": {9092: 9092}, "redpanda-2": {9192: 9192},
                        "redpanda-3": {9292: 9292}}  # fmt: skip
    for n in ("redpanda-2", "redpanda-3"):
        assert f"internal://{n}:29092" in commands[n] and f"--rpc-addr={n}:33145" in commands[n]
        assert services[n]["depends_on"]["redpanda"]["condition"] == "service_healthy"
    # Celery: Redis with a password, two workers of the Airflow image, each its own hostname
    assert "--requirepass" in " ".join(services["redis"]["command"])
    assert "redis-cli ping" in " ".join(services["redis"]["healthcheck"]["test"])
    hostnames = set()
    for n in ("airflow-worker-1", "airflow-worker-2"):
        worker = services[n]
        assert worker["image"].startswith("loanstream-airflow") and worker["build"] == "."
        assert worker["command"][:2] == ["celery", "worker"]
        assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
        assert worker["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
        assert "inspect ping" in " ".join(worker["healthcheck"]["test"])
        hostnames.add(worker["hostname"])
    assert hostnames == {"loanstream-worker-1", "loanstream-worker-2"}
    requirements = (ROOT / "requirements.txt").read_text()
    assert "apache-airflow-providers-celery==" in requirements, "the workers need the provider"


def test_start_order(compose: dict) -> None:
    services = compose["services"]
    init = services["airflow-init"]["depends_on"]
    assert init["postgres"]["condition"] == "service_healthy"
    assert init["redpanda"]["condition"] == "service_healthy"
    for name in AIRFLOW_SERVICES:
        deps = services[name]["depends_on"]
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
        assert deps["postgres"]["condition"] == "service_healthy", name
    assert services["redpanda-console"]["depends_on"]["redpanda"]["condition"] == "service_healthy"


def test_postgres_init_creates_databases_and_schema(compose: dict) -> None:
    mounts = compose["services"]["postgres"]["volumes"]
    assert any(
        m.startswith("./infra/postgres/init.sh:/docker-entrypoint-initdb.d/") for m in mounts
    )
    init = (ROOT / "infra" / "postgres" / "init.sh").read_text()
    assert "CREATE DATABASE loanstream" in init and "CREATE DATABASE airflow" in init
    # the loanstream tables come from the versioned migrations, applied once by airflow-init
    assert "loanstream schema migrate" in (ROOT / "infra" / "airflow" / "compose-init.sh").read_text()
    for path in [m.split(":")[0] for m in mounts if m.startswith("./")]:
        assert (ROOT / path).exists(), path


def test_dockerfile_builds_on_airflow_with_requirements_package_and_rpk() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "FROM apache/airflow:3.3.2-python3.11" in text
    assert "COPY --from=redpanda" in text and "rpk" in text
    assert "-r /opt/airflow/requirements.txt" in text
    assert "pip install --no-cache-dir --no-deps -e /opt/airflow" in text
    for line in text.splitlines():
        if line.startswith("COPY --chown"):
            source = line.split()[2]
            assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"


def _compose_config_command() -> list[str]:
    """`docker compose config` where the CLI has compose, else the compose-go validator."""
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose", "-f", "{file}", "--env-file", "{env}", "config", "--quiet"]
    checker = ROOT / ".local" / "bin" / "compose-check"
    if not checker.exists():
        pytest.fail(f"{checker} is missing: run `make setup` (it builds the compose validator)")
    return [str(checker), "{file}", "{env}"]


def _validate(compose_file: Path) -> subprocess.CompletedProcess:
    """`compose config` with .env.example plus the passwords `make up` would generate."""
    from devstack.envfile import GENERATED

    with tempfile.TemporaryDirectory() as tmp:
        env = Path(tmp) / ".env"
        env.write_text(
            (ROOT / ".env.example").read_text()
            + "".join(f"{name}=generated-{i}\n" for i, (name, _) in enumerate(GENERATED))
        )
        command = [
            part.format(file=compose_file, env=env) for part in _compose_config_command()
        ]
        return subprocess.run(command, capture_output=True, text=True, cwd=compose_file.parent)


def test_compose_has_no_default_passwords() -> None:
    """Every password is required from .env (``${VAR:?...}``): none has a usable default."""
    import re

    text = (ROOT / "docker-compose.yml").read_text()
    references = re.findall(r"\$\{(\w*PASSWORD\w*)(:?[-?])?", text)
    assert references
    assert all(kind == ":?" for _, kind in references), references


def test_docker_compose_config_validates() -> None:
    result = _validate(ROOT / "docker-compose.yml")
    assert result.returncode == 0, result.stderr


def test_docker_compose_config_validates_the_cluster_profile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COMPOSE_PROFILES", "cluster")
    monkeypatch.setenv("LOANSTREAM_COMPOSE_EXECUTOR", "CeleryExecutor")
    result = _validate(ROOT / "docker-compose.yml")
    assert result.returncode == 0, result.stderr
    if result.stdout.lstrip().startswith("{"):  # the compose-go validator prints the project
        import json

        project = json.loads(result.stdout)
        assert set(CLUSTER) <= set(project["services"]), sorted(project["services"])
        env = project["services"]["airflow-worker-1"]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_the_validator_rejects_a_broken_compose_file(tmp_path: Path) -> None:
    broken = (ROOT / "docker-compose.yml").read_text().replace("depends_on:", "depends_onn:", 1)
    path = tmp_path / "docker-compose.yml"
    path.write_text(broken)
    result = _validate(path)
    assert result.returncode != 0
    assert "depends_onn" in result.stderr


def test_prometheus_is_rendered_by_devstack_and_scrapes_the_api_server(compose: dict) -> None:
    services = compose["services"]
    assert host_ports(services["prometheus"]) == {9090: 9090}
    render = " ".join(services["prometheus-config"]["command"])
    assert "devstack.prometheus render /etc/loanstream-prometheus airflow-apiserver:8080" in render
    assert "--config.file=/etc/loanstream-prometheus/prometheus.yml" in services["prometheus"]["command"]
    for volume in services["prometheus-config"]["volumes"]:
        source = volume.split(":")[0]
        assert not source.startswith("./") or (ROOT / source).exists(), volume
    assert services["prometheus"]["depends_on"]["prometheus-config"]["condition"] == "service_completed_successfully"
