"""The shared stack's commands: ``up``, ``down``, ``status``, ``clean``, ``restart-airflow``,
``restart-registry``.

``up`` starts whatever is not running and waits until healthy (fast when all is healthy
already); ``down`` stops exactly what ``up`` started (pid files, sessions, and anything still
carrying this checkout's ``LOANSTREAM_STACK_ID``) and checks that nothing is left.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

from devstack import airflow, credentials, kafka_stack, postgres, private, prometheus, registry
from devstack.celery import CeleryWorker, Redis, workers_answering
from devstack.config import StackConfig
from devstack.process import (
    Service,
    ServiceError,
    log,
    marked_pids,
    session_pids,
    signal_pids,
    stop_services,
    wait_gone,
)


class Stack:
    """The shared stack of one checkout, configured by :class:`StackConfig`."""

    def __init__(self, cfg: StackConfig) -> None:
        self.cfg = cfg
        self.env = dict(cfg.env)
        self.stamps = credentials.Stamps(cfg.run_dir)
        self.airflow_bin = cfg.venv_bin / "airflow"

    # --- the services -------------------------------------------------------------------------
    def _common(self) -> dict[str, object]:
        return {"run_dir": self.cfg.run_dir, "log_dir": self.cfg.log_dir, "stack_id": self.cfg.stack_id}

    @property
    def kafka(self) -> kafka_stack.KafkaStack:
        """Kafka's nodes, start, health and provisioning (:mod:`devstack.kafka_stack`)."""
        return kafka_stack.KafkaStack(self.cfg, self._common(), self.stop)

    def postgres(self) -> postgres.Postgres:
        base = postgres.shared_base(self.cfg.local, self.cfg.stack_id)
        return postgres.Postgres(base, self.cfg.pg_port, host=self.cfg.pg_host, auth="scram",
                                 max_connections=200, **self._common())  # fmt: skip

    def airflow_components(self) -> list[airflow.AirflowComponent]:
        return [
            airflow.AirflowComponent(self.airflow_bin, c, host=self.cfg.airflow_host,
                                     port=self.cfg.airflow_port, env=self.env, **self._common())
            for c in ("scheduler", "dag-processor", "triggerer", "api-server")
        ]  # fmt: skip

    def registry(self) -> registry.SchemaRegistry:
        """The schema registry (its Java is looked for only when it is started)."""
        cfg, e = self.cfg, self.env
        return registry.SchemaRegistry(
            cfg.registry_port, cfg.registry_management_port,
            jdbc_url=registry.jdbc_url(cfg.pg_host, cfg.pg_port, e.get("LOANSTREAM_SCHEMA_REGISTRY_PG_DB", "registry")),
            user=e.get("LOANSTREAM_SCHEMA_REGISTRY_PG_USER", "registry"),
            password=e.get("LOANSTREAM_SCHEMA_REGISTRY_PG_PASSWORD", ""),
            heap=shlex.split(cfg.registry_heap), base_env=e, **self._common(),
        )  # fmt: skip

    def prometheus(self) -> prometheus.Prometheus:
        """Prometheus, scraping this stack's Airflow API server (``/loanstream/metrics``)."""
        cfg = self.cfg
        return prometheus.Prometheus(cfg.prometheus_port, f"{cfg.airflow_host}:{cfg.airflow_port}",
                                     home=cfg.local / "prometheus", env=self.env, **self._common())  # fmt: skip

    def redis(self) -> Redis:
        return Redis(self.cfg.local / "redis", self.cfg.redis_port,
                     self.env.get("LOANSTREAM_REDIS_PASSWORD", ""), **self._common())  # fmt: skip

    def worker(self, n: int) -> CeleryWorker:
        return CeleryWorker(self.airflow_bin, n, self.cfg.celery_concurrency, env=self.env,
                            **self._common())  # fmt: skip

    def by_name(self, name: str) -> Service:
        """Any service by name, whatever the mode (for pid files of another mode)."""
        if name.startswith("celery-worker-"):
            return self.worker(int(name.rsplit("-", 1)[1]))
        if name == "redis":
            return self.redis()
        if name == "schema-registry":
            return self.registry()
        if name == "prometheus":
            return self.prometheus()
        if name.startswith("airflow-"):
            return next(s for s in self.airflow_components() if s.name == name)
        if name == "postgres" and (self.cfg.local / "postgres-base").is_file():
            return self.postgres()
        if name == "postgres":  # never started here: nothing to make
            return Service(name, self.cfg.run_dir, self.cfg.log_dir)
        return Service(name, self.cfg.run_dir, self.cfg.log_dir)

    def known(self, prefix: str = "") -> list[str]:
        """Services with a pid file (whatever mode started them)."""
        return sorted(p.stem for p in self.cfg.run_dir.glob(f"{prefix}*.pid"))

    def stop(self, names: list[str]) -> None:
        stop_services([self.by_name(n) for n in names], self.cfg.stop_timeout, log)

    # --- checks ---------------------------------------------------------------------------------
    def all_healthy(self) -> bool:
        names = self.cfg.all_services
        if not all(self.by_name(n).running() for n in names):
            return False
        if any(n not in names for n in self.known()):  # something of another mode
            return False
        return (
            self.stamps.executor_current(self.cfg.executor)
            and self.postgres().healthy()
            and self.kafka.healthy()
            and airflow.healthy(self.cfg.airflow_url)
            and self.registry().healthy()
            and self.registry().stamp_current()
            and self.prometheus().healthy()
            and self.prometheus().stamp_current()
        )

    # --- Postgres -----------------------------------------------------------------------------
    def postgres_start(self) -> None:
        pg = self.postgres()
        if pg.running() and pg.healthy():
            log(f"postgres: already running (pid {pg.pid()})")
            return
        if not pg.initialized():
            log(f"postgres: initdb {pg.data}")
        pg.initdb()
        log(f"postgres: starting on {pg.host}:{pg.port} ({pg.data})")
        pg.launch()
        pg.wait_healthy(self.cfg.pg_timeout, interval=0.5)
        log(f"postgres: healthy ({pg.host}:{pg.port})")
        postgres.provision(pg, self.env)
        e = self.env
        log(f"postgres: roles/databases {e['LOANSTREAM_PG_USER']}/{e['LOANSTREAM_PG_DB']} and "
            f"{e['AIRFLOW_PG_USER']}/{e['AIRFLOW_PG_DB']} ready")  # fmt: skip

    def postgres_migrate(self) -> None:
        """The pending include/sql/migrations, as the loanstream role (on every ``up``)."""
        log_path = self.cfg.log_dir / "postgres.log"
        env = {**self.env, "PYTHONPATH": os.pathsep.join(
            filter(None, [str(self.cfg.root / "plugins"), self.env.get("PYTHONPATH")]))}  # fmt: skip
        with log_path.open("ab") as err:
            err.write(f"==== devstack: loanstream schema migrate\n".encode())  # noqa: F541
            err.flush()
            result = subprocess.run(
                [str(self.cfg.python), "-m", "loanstream.cli", "schema", "migrate"],
                stdout=subprocess.PIPE, stderr=err, env=env, check=False,
            )  # fmt: skip
            err.write(result.stdout)
        if result.returncode != 0:
            raise ServiceError("postgres", f"loanstream schema migrate failed (exit {result.returncode})", log_path)
        lines = [ln for ln in result.stdout.decode().splitlines() if ln.strip()]
        try:
            status = json.loads(lines[-1])
        except (IndexError, ValueError):
            status = {}
        applied = json.dumps(status.get("applied_now", []))
        log(f"postgres: loanstream schema at {status.get('current', '?')} (applied now: {applied})")

    # --- the schema registry ---------------------------------------------------------------------
    def registry_start(self) -> None:
        """Its role and database in Postgres (running), then launch it; :meth:`registry_wait`
        waits for it. Running with another port, Java or password: restarted."""
        reg = self.registry()
        if reg.running():
            if reg.stamp_current():
                log(f"schema-registry: already running (pid {reg.pid()})")
                return
            log("schema-registry: its ports, Java or password changed: restarting it")
            self.stop([reg.name])
        e = self.env
        password = e.get("LOANSTREAM_SCHEMA_REGISTRY_PG_PASSWORD", "")
        if not password:
            raise ServiceError(reg.name, "LOANSTREAM_SCHEMA_REGISTRY_PG_PASSWORD unset (make up writes it into .env)")
        if not reg.jar.is_file():
            raise ServiceError(reg.name, f"no {reg.jar}: run `make setup` first")
        java = reg.java  # raises, saying what to install, when there is no Java 21+
        user = e.get("LOANSTREAM_SCHEMA_REGISTRY_PG_USER", "registry")
        database = e.get("LOANSTREAM_SCHEMA_REGISTRY_PG_DB", "registry")
        postgres.provision_registry(self.postgres(), user, database, password)
        log(f"schema-registry: starting on {reg.url} (management {reg.management_url}; "
            f"Postgres database {database}; {java})")  # fmt: skip
        reg.launch()
        reg.write_stamp()

    def registry_wait(self) -> None:
        reg = self.registry()
        reg.wait_healthy(self.cfg.registry_timeout, interval=0.5)
        log(f"schema-registry: healthy ({reg.ccompat_url})")

    # --- Prometheus ---------------------------------------------------------------------------
    def prometheus_start(self) -> None:
        """Render its files and start it (running with other settings: restarted); waits until
        ready. Scraping starts at once: Airflow is up by now."""
        prom = self.prometheus()
        if prom.running():
            if prom.stamp_current() and prom.healthy():
                log(f"prometheus: already running (pid {prom.pid()})")
                return
            log("prometheus: its port, token or alert settings changed: restarting it")
            self.stop([prom.name])
        prom.write_files()
        log(f"prometheus: starting on {prom.url} (scraping {prom.target}/loanstream/metrics; "
            f"data {prom.home / 'data'})")  # fmt: skip
        prom.launch()
        prom.write_stamp()
        prom.wait_healthy(interval=0.5)
        log(f"prometheus: healthy ({prom.url}, LOANSTREAM_PROMETHEUS_URL)")

    # --- Airflow and Celery -------------------------------------------------------------------
    def airflow_start(self) -> None:
        components = self.airflow_components()
        if all(c.running() for c in components):
            log("airflow: already running")
            return
        if not self.airflow_bin.exists():
            raise ServiceError("airflow", f"{self.airflow_bin} missing: run `make setup` first")
        log("airflow: db migrate")
        airflow.provision(self.airflow_bin, self.cfg.run_dir, self.cfg.log_dir, self.env)
        log(f"airflow: connections {', '.join(airflow.connections(self.env))} imported; admin password set")
        for component in components:
            if component.running():
                log(f"{component.name}: already running")
                continue
            log(f"{component.name}: starting")
            component.launch()

    def airflow_wait(self) -> None:
        components = self.airflow_components()
        deadline = time.monotonic() + self.cfg.airflow_timeout
        while time.monotonic() < deadline:
            for c in components:
                if not c.running():
                    raise ServiceError(c.name, "exited during start-up", c.log_path)
            if airflow.healthy(self.cfg.airflow_url):
                log(f"airflow: healthy ({self.cfg.airflow_url})")
                return
            time.sleep(1)
        detail = airflow.unhealthy(self.cfg.airflow_url)
        bad = detail if isinstance(detail, list) else []
        name = next((airflow.HEALTH_SERVICE[b] for b in bad if b in airflow.HEALTH_SERVICE), "airflow-api-server")
        why = detail if isinstance(detail, str) else "airflow: not healthy: " + ", ".join(bad)
        raise ServiceError(name, f"not healthy within {self.cfg.airflow_timeout:.0f}s ({why})",
                           self.cfg.log_dir / f"{name}.log")  # fmt: skip

    def redis_start(self) -> None:
        redis = self.redis()
        if redis.running() and redis.healthy():
            log(f"redis: already running (pid {redis.pid()})")
            return
        if shutil.which("redis-server") is None:
            raise ServiceError("redis", "redis-server not found: run `make setup` first")
        if not redis.password:
            raise ServiceError("redis", "LOANSTREAM_REDIS_PASSWORD unset (make up writes it into .env)")
        log(f"redis: starting on 127.0.0.1:{redis.port}")
        redis.launch()
        redis.wait_healthy(15, interval=0.5)
        log("redis: healthy")

    def workers_start(self) -> None:
        for n in range(1, self.cfg.celery_workers + 1):
            worker = self.worker(n)
            if worker.running():
                log(f"{worker.name}: already running")
                continue
            log(f"{worker.name}: starting (hostname {worker.hostname}, {worker.concurrency} slots)")
            worker.launch()

    def workers_wait(self) -> None:
        count = self.cfg.celery_workers
        deadline = time.monotonic() + self.cfg.airflow_timeout
        while time.monotonic() < deadline:
            for n in range(1, count + 1):
                worker = self.worker(n)
                if not worker.running():
                    raise ServiceError(worker.name, "exited during start-up", worker.log_path)
            if workers_answering(self.env["AIRFLOW__CELERY__BROKER_URL"]) >= count:
                log(f"celery: {count} worker(s) answer")
                return
            time.sleep(2)
        worker = self.worker(1)
        raise ServiceError(worker.name, f"not all {count} workers answered a ping within "
                           f"{self.cfg.airflow_timeout:.0f}s", worker.log_path)  # fmt: skip

    # --- commands -------------------------------------------------------------------------------
    def up(self) -> None:
        cfg = self.cfg
        if not cfg.python.exists():
            raise ServiceError("stack", f"no {cfg.python}: run `make setup` first")
        remembered = cfg.local / "postgres-base"
        base = Path(remembered.read_text().strip()) if remembered.is_file() else None
        for note in private.tighten(cfg.local, base):
            log(note)
        cfg.run_dir.mkdir(parents=True, exist_ok=True)
        cfg.log_dir.mkdir(parents=True, exist_ok=True)
        airflow.ensure_secrets(cfg.local / "secrets", self.env)
        if self.all_healthy() and self.stamps.credentials_current(self.env):
            self.postgres_migrate()
            self.kafka.provision(self.kafka.nodes()[0])  # users and ACLs as the table says
            log("all services already running and healthy: nothing else to do")
            self.status()
            return
        t0 = time.monotonic()
        self.kafka.start()  # the JVM warms up while Postgres and Airflow's migration run
        self.postgres_start()
        self.postgres_migrate()
        self.registry_start()  # its JVM starts while Kafka and Airflow come up
        self.kafka.wait()
        af_names = list(cfg.airflow_services)
        any_airflow = any(self.by_name(n).running() for n in af_names)
        if any_airflow and not self.stamps.credentials_current(self.env):
            log("airflow: its services were started with other passwords or another Kafka connection")
            log("airflow: than .env now gives (or before make up generated them): restarting them")
            self.stop(af_names)
        if any(self.by_name(n).running() for n in af_names) and not self.stamps.executor_current(cfg.executor):
            log(f"airflow: its services run another executor than LOANSTREAM_EXECUTOR={cfg.executor}: restarting them")
            self.stop(af_names)
            self.stop(self.known("celery-worker-"))
        if cfg.executor == "celery":
            self.redis_start()
        else:
            self.stop(["redis", *self.known("celery-worker-")])
        self.airflow_start()
        if cfg.executor == "celery":
            self.workers_start()
        self.airflow_wait()
        if cfg.executor == "celery":
            self.workers_wait()
        self.registry_wait()
        self.prometheus_start()
        self.stamps.stamp_executor(cfg.executor)
        self.stamps.stamp_credentials(self.env)
        log(f"stack up in {time.monotonic() - t0:.0f}s")
        self.status()

    def down(self) -> None:
        cfg = self.cfg
        names = list(dict.fromkeys([*cfg.all_services, *self.known()]))
        # the sessions of every service we started, remembered before stopping them
        sids = [s.pid() for s in map(self.by_name, names)]
        sids = [pid for pid in sids if pid is not None]
        # Airflow, its workers, Redis, the schema registry and Kafka together, then Postgres
        # (Airflow records its shutdown in it; the registry's connections close first)
        self.stop([*cfg.airflow_services, *self.known("celery-worker-"), "redis", "schema-registry",
                   "kafka", "kafka-2", "kafka-3", "prometheus"])  # fmt: skip
        if (cfg.local / "postgres-base").is_file():
            self.stop(["postgres"])
        (cfg.run_dir / "postgres.pid").unlink(missing_ok=True)

        def leftover() -> list[int]:
            return sorted(set(session_pids(sids)) | set(marked_pids(cfg.stack_id)))

        left = leftover()
        if left:
            log(f"stopping leftover processes of this stack: {' '.join(map(str, left))}")
            signal_pids(left, signal.SIGTERM)
            left = wait_gone(leftover, 10)
            if left:
                signal_pids(left, signal.SIGKILL)
                left = wait_gone(leftover, 5)
            if left:
                raise ServiceError("stack", f"processes still running after down: {' '.join(map(str, left))}")
        for pidfile in cfg.run_dir.glob("*.pid"):
            pidfile.unlink()
        log("stack down: no process of this checkout left")

    def status(self) -> None:
        cfg, e = self.cfg, self.env
        ports = {name: p for name, p in zip(("kafka", "kafka-2", "kafka-3"), self._all_kafka_ports(), strict=False)}
        for name in dict.fromkeys([*cfg.all_services, *self.known()]):
            if name in ports:
                port, cport, sport = ports[name]
                addr = f"127.0.0.1:{port} (controller :{cport})" + (f", SASL_SSL :{sport}" if cfg.sasl_ssl else "")
            elif name == "redis":
                addr = f"127.0.0.1:{cfg.redis_port} (Celery broker)"
            elif name.startswith("celery-worker-"):
                addr = f"hostname loanstream-worker-{name.rsplit('-', 1)[1]}"
            elif name == "postgres":
                dbs = [e.get(k) for k in ("LOANSTREAM_PG_DB", "AIRFLOW_PG_DB", "LOANSTREAM_SCHEMA_REGISTRY_PG_DB")]
                addr = f"{cfg.pg_host}:{cfg.pg_port} (dbs {', '.join(filter(None, dbs))})"
            elif name == "schema-registry":
                addr = f"127.0.0.1:{cfg.registry_port} (management :{cfg.registry_management_port})"
            elif name == "prometheus":
                addr = f"{cfg.prometheus_url} (scrapes /loanstream/metrics)"
            elif name == "airflow-api-server":
                addr = f"{cfg.airflow_url} (UI + REST API)"
            else:
                addr = "-"
            pid = self.by_name(name).pid()
            state = f"running (pid {pid})" if pid is not None else "stopped"
            log_rel = (cfg.log_dir / f"{name}.log").relative_to(cfg.root)
            print(f"{name:<22} {state:<22} {addr:<48} log {log_rel}")

    def _all_kafka_ports(self) -> list[tuple[int, int, int]]:
        from devstack.config import parse_ports

        e = self.env
        node1 = (int(e["LOANSTREAM_KAFKA_PORT"]), int(e["LOANSTREAM_KAFKA_CONTROLLER_PORT"]),
                 int(e["LOANSTREAM_KAFKA_SASL_PORT"]))  # fmt: skip
        return [node1, parse_ports(e["LOANSTREAM_KAFKA_NODE2_PORTS"]), parse_ports(e["LOANSTREAM_KAFKA_NODE3_PORTS"])]

    def clean(self) -> None:
        self.down()
        remembered = self.cfg.local / "postgres-base"
        if remembered.is_file():
            base = Path(remembered.read_text().strip())
            if base == Path(f"/var/tmp/loanstream-{self.cfg.stack_id}"):
                shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(self.cfg.local, ignore_errors=True)
        log(f"removed {self.cfg.local}")

    def restart_registry(self) -> None:
        """Stop the schema registry and start it again (its schemas stay in Postgres); nothing
        else restarts. Tests use it to restart the registry in the middle of a run."""
        if not self.postgres().healthy():
            raise ServiceError("schema-registry", "postgres is not running: `make up` first")
        log("schema-registry: restarting")
        self.stop(["schema-registry"])
        self.registry_start()
        self.registry_wait()

    def restart_airflow(self) -> None:
        """After changing plugins/ or the Airflow settings: Kafka and Postgres stay up."""
        self.stop(list(self.cfg.airflow_services))
        self.up()

