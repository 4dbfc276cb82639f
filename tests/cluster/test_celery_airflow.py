"""The pipeline DAG on an Airflow with the CeleryExecutor and a three-broker Kafka cluster.

(b) a broker (the leader of a partition) is SIGKILLed and restarted while a DAG run streams:
    the run succeeds, its ``score_events`` tasks ran on at least two workers (the hostname in
    their XCom), and every event is stored once;
(c) a Celery worker is SIGKILLed (its whole session: pool, task supervisors, tasks) while it
    runs a ``score_events`` task: Airflow fails that try once its heartbeats stop, retries it on
    the other worker, and the run ends with every event stored once.

The private stack of ``tests/cluster/airflow_stack.py`` (its own Postgres, Redis, scheduler,
dag-processor, triggerer, api-server and two workers with two task slots each, so a run's
producer and three consumers need both) on the private cluster of ``conftest.py``.
Figures: ``$LOANSTREAM_REPORTS_DIR/chaos/cluster_celery_{broker,worker}_kill.json``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from tests.chaos.chaos_common import env_seed, record, reports_dir
from tests.chaos.services import PrivateKafkaCluster, chaos_trials
from tests.cluster.airflow_stack import CeleryAirflow, running_celery_airflow
from tests.helpers import unique_name, write_loans_csv

pytestmark = pytest.mark.cluster

TRIALS = chaos_trials(default=1)
DAG = "loan_stream_pipeline"
COPIES = 3  # the 2,000-row real sample three times: 6,000 events
RATE = 600  # events/s: a 10 s stream, so kills land while it runs


@pytest.fixture(scope="session")
def celery_airflow(kafka_cluster: PrivateKafkaCluster) -> Iterator[CeleryAirflow]:
    with running_celery_airflow(kafka_cluster) as stack:
        yield stack


@pytest.fixture
def airflow_up(celery_airflow: CeleryAirflow, cluster_up: PrivateKafkaCluster) -> CeleryAirflow:
    """Both workers running (one an earlier test killed is started again)."""
    for hostname, worker in celery_airflow.worker_procs.items():
        if worker.proc is None or worker.proc.poll() is not None:
            celery_airflow.restart_worker(hostname)
    deadline = time.monotonic() + 120
    while celery_airflow.celery_workers() < celery_airflow.workers:
        assert time.monotonic() < deadline, "a restarted Celery worker did not come back"
        time.sleep(2)
    return celery_airflow


def loans_csv(
    stack: CeleryAirflow, shared_csv: Path, prefix: str, id_prefix: str
) -> tuple[Path, list[str]]:
    """6,000 loans with ids unique to ``id_prefix`` (digits), in the private stack's data
    directory, in files named by ``prefix``."""
    out = stack.data_dir / f"{prefix}.csv"
    ids: list[str] = []
    with out.open("w", newline="") as handle:
        for copy in range(COPIES):
            part = stack.data_dir / f"{prefix}-part{copy}.csv"
            ids += write_loans_csv(part, shared_csv, 10**9, id_prefix=f"{id_prefix}{copy}")
            lines = part.read_text().splitlines(keepends=True)
            handle.writelines(lines if copy == 0 else lines[1:])
            part.unlink()
    return out, ids


def trigger(stack: CeleryAirflow, conf: dict[str, Any]) -> str:
    deadline = time.monotonic() + 120
    while True:
        try:
            stack.request("GET", f"/api/v2/dags/{DAG}")
            break
        except Exception:  # noqa: BLE001 - not parsed yet
            assert time.monotonic() < deadline, f"{DAG} not parsed by the private dag-processor"
            time.sleep(2)
    stack.request("PATCH", f"/api/v2/dags/{DAG}?update_mask=is_paused", {"is_paused": False})
    run = stack.request("POST", f"/api/v2/dags/{DAG}/dagRuns", {"logical_date": None, "conf": conf})
    return run["dag_run_id"]


def wait_run(stack: CeleryAirflow, run_id: str, timeout: float = 420) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (state,) = stack.metadata("SELECT state FROM dag_run WHERE run_id = %s", (run_id,))[0]
        if state in ("success", "failed"):
            return state
        time.sleep(2)
    raise AssertionError(f"run {run_id} not finished in {timeout}s: {task_table(stack, run_id)}")


def task_table(stack: CeleryAirflow, run_id: str) -> list[tuple]:
    return stack.metadata(
        "SELECT task_id, map_index, state, hostname, try_number FROM task_instance "
        "WHERE run_id = %s ORDER BY task_id, map_index",
        (run_id,),
    )


def score_xcoms(stack: CeleryAirflow, run_id: str) -> dict[int, dict]:
    rows = stack.metadata(
        "SELECT map_index, value FROM xcom WHERE run_id = %s AND task_id = 'score_events' "
        "AND key = 'return_value'",
        (run_id,),
    )
    return {m: v for m, v in rows}


def summary_xcom(stack: CeleryAirflow, run_id: str) -> dict:
    rows = stack.metadata(
        "SELECT value FROM xcom WHERE run_id = %s AND task_id = 'summarize' "
        "AND key = 'return_value'",
        (run_id,),
    )
    return rows[0][0] if rows else {}


def stored(stack: CeleryAirflow, run_id: str) -> tuple[int, int]:
    """(rows, distinct loans) of ``run_id`` in risk_scored."""
    conn = psycopg2.connect(stack.loanstream_dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(*), count(DISTINCT loan_id) FROM risk_scored WHERE run_id = %s",
                (run_id,),
            )
            return cur.fetchone()
    finally:
        conn.close()


def wait_streaming(stack: CeleryAirflow, run_id: str, at_least: int, timeout: float = 180) -> None:
    """Until ``score_events`` tasks run and ``at_least`` rows of the run are stored."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = [
            t for t in task_table(stack, run_id) if t[0] == "score_events" and t[2] == "running"
        ]
        if running and stored(stack, run_id)[0] >= at_least:
            return
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} never streamed: {task_table(stack, run_id)}")


def keep_logs(stack: CeleryAirflow, run_id: str, name: str) -> Path:
    """Copy a failed run's task logs and the components' logs next to the figures (the private
    stack's directory is removed at the end of the session)."""
    import shutil

    dest = reports_dir() / f"{name}-logs"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for run_dir in (stack.base / "airflow_home" / "logs").glob(f"dag_id={DAG}/run_id={run_id}"):
        shutil.copytree(run_dir, dest / "tasks", dirs_exist_ok=True)
    for log in stack.base.glob("*.log"):
        shutil.copy(log, dest / log.name)
    (dest / "task_instances.txt").write_text("\n".join(map(str, task_table(stack, run_id))))
    return dest


def check_exact(stack: CeleryAirflow, run_id: str, ids: list[str]) -> dict:
    rows, distinct = stored(stack, run_id)
    summary = summary_xcom(stack, run_id)
    result = {
        "rows": rows,
        "distinct_loans": distinct,
        "expected": len(ids),
        "summary_scored": summary.get("scored"),
        "summary_missing": summary.get("missing"),
        "summary_produced": summary.get("produced"),
    }
    assert rows == distinct == len(ids), result
    assert summary.get("missing") == 0 and summary.get("scored") == len(ids), result
    return result


@pytest.mark.timeout(300 + 480 * TRIALS)
def test_broker_killed_during_a_celery_dag_run(
    airflow_up: CeleryAirflow, kafka_cluster: PrivateKafkaCluster, shared_csv: Path
) -> None:
    stack, cluster = airflow_up, kafka_cluster
    rng = random.Random(seed := env_seed())
    trials = []
    for trial in range(TRIALS):
        if not all(node.alive() for node in cluster.nodes):
            cluster.start()
        csv, ids = loans_csv(stack, shared_csv, f"b{trial}x{seed}-", f"1{trial:03d}")
        topic = unique_name("cluster_dag")
        t0 = time.monotonic()
        run_id = trigger(stack, {"csv_path": str(csv), "rate": RATE, "topic": topic})
        wait_streaming(stack, run_id, at_least=rng.randint(50, 1500))
        partition = rng.randrange(3)
        victim = cluster.leader(topic, partition)
        cluster.kill(victim)
        time.sleep(rng.uniform(0.5, 2.0))
        restart_s = cluster.restart(victim)
        state = wait_run(stack, run_id)
        tasks = task_table(stack, run_id)
        if state != "success":
            logs = keep_logs(stack, run_id, "cluster_celery_broker_kill")
            record("cluster_celery_broker_kill", {"seed": seed, "failed_trial": trial,
                   "killed_node": victim, "tasks": tasks, "logs": logs, "per_trial": trials})  # fmt: skip
        assert state == "success", tasks
        hosts = {m: x.get("hostname") for m, x in score_xcoms(stack, run_id).items()}
        result = {
            "trial": trial,
            "killed_node": victim,
            "partition": partition,
            "node_restart_s": round(restart_s, 2),
            "run_s": round(time.monotonic() - t0, 1),
            "score_hosts": hosts,
            "tries": {f"{t[0]}[{t[1]}]": t[4] for t in tasks},
            **check_exact(stack, run_id, ids),
        }
        trials.append(result)
        assert len(set(hosts.values())) >= 2 and None not in hosts.values(), result
    record("cluster_celery_broker_kill", {"seed": seed, "trials": len(trials), "per_trial": trials})


@pytest.mark.timeout(300 + 480 * TRIALS)
def test_celery_worker_killed_mid_score_events(airflow_up: CeleryAirflow, shared_csv: Path) -> None:
    stack = airflow_up
    rng = random.Random(seed := env_seed())
    trials = []
    for trial in range(TRIALS):
        for hostname, worker in stack.worker_procs.items():
            if worker.proc is None or worker.proc.poll() is not None:
                stack.restart_worker(hostname)
        while stack.celery_workers() < stack.workers:
            time.sleep(2)
        csv, ids = loans_csv(stack, shared_csv, f"c{trial}x{seed}-", f"2{trial:03d}")
        t0 = time.monotonic()
        run_id = trigger(
            stack, {"csv_path": str(csv), "rate": RATE, "topic": unique_name("cluster_w")}
        )
        wait_streaming(stack, run_id, at_least=rng.randint(50, 1500))
        # a worker running score_events but not the producer: the producer's own death is
        # another fault (its retry re-sends the file; see RELIABILITY.md, limits)
        table = task_table(stack, run_id)
        producer_hosts = {t[3] for t in table if t[0] == "produce_events" and t[2] == "running"}
        running = [
            t for t in table
            if t[0] == "score_events" and t[2] == "running" and t[3] not in producer_hosts
        ]  # fmt: skip
        assert running, f"no score_events task apart from the producer's worker: {table}"
        task_id, map_index, _state, victim_host, try_before = rng.choice(running)
        (rows_at_kill, _) = stored(stack, run_id)
        stack.worker_procs[victim_host].kill()
        state = wait_run(stack, run_id)
        tasks = task_table(stack, run_id)
        if state != "success":
            logs = keep_logs(stack, run_id, "cluster_celery_worker_kill")
            record("cluster_celery_worker_kill", {"seed": seed, "failed_trial": trial,
                   "killed_worker": victim_host, "task": f"{task_id}[{map_index}]",
                   "rows_at_kill": rows_at_kill, "tasks": tasks, "logs": logs,
                   "per_trial": trials})  # fmt: skip
        assert state == "success", tasks
        after = next(t for t in tasks if (t[0], t[1]) == (task_id, map_index))
        hosts = {m: x.get("hostname") for m, x in score_xcoms(stack, run_id).items()}
        result = {
            "trial": trial,
            "killed_worker": victim_host,
            "task": f"{task_id}[{map_index}]",
            "rows_at_kill": rows_at_kill,
            "try_before": try_before,
            "try_after": after[4],
            "host_after": after[3],
            "run_s": round(time.monotonic() - t0, 1),
            "score_hosts": hosts,
            "tries": {f"{t[0]}[{t[1]}]": t[4] for t in tasks},
            **check_exact(stack, run_id, ids),
        }
        trials.append(result)
        # Airflow retried the killed task, on the worker that was left
        assert after[4] > try_before and after[3] != victim_host, result
        assert hosts[map_index] == after[3], result
        stack.restart_worker(victim_host)
    record("cluster_celery_worker_kill", {"seed": seed, "trials": len(trials), "per_trial": trials})
