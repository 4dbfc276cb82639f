"""A small client of Airflow 3's REST API v2, for the demo, the e2e tests and the benchmarks."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

from demo import Airflow, ApiError  # noqa: F401 - re-exported


class DagRunner:
    """Trigger a DAG through the REST API and wait for it, as a user's script would."""

    def __init__(self, api: Airflow) -> None:
        self.api = api

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.api.request("GET", f"/api/v2/dags/{dag_id}")
                return
            except ApiError as exc:
                if exc.status != 404 or time.monotonic() > deadline:
                    raise
            time.sleep(2)

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        self.wait_for_dag(dag_id)
        self.api.request(
            "PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False}, {"update_mask": ["is_paused"]}
        )
        run = self.api.request(
            "POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf}
        )
        return run["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.api.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}")

    def wait(self, dag_id: str, run_id: str, timeout: float = 600) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.run(dag_id, run_id)["state"]
            if state in ("success", "failed"):
                return state
            time.sleep(2)
        raise AssertionError(f"{dag_id} run {run_id} not finished after {timeout}s")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances"
        return self.api.request("GET", path)["task_instances"]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        return {
            ti["task_id"] + ("" if ti.get("map_index", -1) < 0 else f"[{ti['map_index']}]"): str(
                ti["state"]
            )
            for ti in self.task_instances(dag_id, run_id)
        }

    def log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1
    ) -> str:
        """The task's log as text, with the exception of a failed try included."""
        body = self.api.request(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/logs/{try_number}",
            query={"full_content": "true", "map_index": str(map_index)},
        )
        content = body.get("content", "")
        if not isinstance(content, list):
            return str(content)
        lines = []
        for item in content:
            if not isinstance(item, dict):
                lines.append(str(item))
                continue
            lines.append(str(item.get("event", "")))
            for error in item.get("error_detail") or []:
                lines.append(f"{error.get('exc_type')}: {error.get('exc_value')}")
        return "\n".join(lines)

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
        body = self.api.request(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}"
            "/xcomEntries/return_value",
            query={"deserialize": "true", "map_index": str(map_index)},
        )
        return body.get("value")

    def set_task_state(self, dag_id: str, run_id: str, task_id: str, state: str) -> None:
        """Mark a task instance (e.g. ``failed``): a running one is stopped, as in the UI."""
        self.api.request(
            "PATCH",
            f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}",
            {"new_state": state},
        )

    def clear(self, dag_id: str, run_id: str, task_ids: list[str], downstream: bool = True) -> None:
        """Clear tasks (and, by default, their downstream tasks) of a run, as in the UI."""
        self.api.request(
            "POST",
            f"/api/v2/dags/{dag_id}/clearTaskInstances",
            {
                "dry_run": False,
                "only_failed": False,
                "dag_run_id": run_id,
                "task_ids": task_ids,
                "include_downstream": downstream,
            },
        )

    def artefacts(self, dag_id: str, run_id: str) -> dict[str, str]:
        """Everything the run left behind in Airflow, as text by name: the run (its conf), every
        task log (each try, each mapped index) and every XCom (raw, as stored)."""
        base = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}"
        found = {"run": json.dumps(self.run(dag_id, run_id))}
        for ti in self.task_instances(dag_id, run_id):
            index = ti.get("map_index", -1)
            name = ti["task_id"] + ("" if index < 0 else f"[{index}]")
            found[f"task instance {name}"] = json.dumps(ti)
            for attempt in range(1, (ti.get("try_number") or 0) + 1):
                body = self.api.request(
                    "GET",
                    f"{base}/taskInstances/{ti['task_id']}/logs/{attempt}",
                    query={"full_content": "true", "map_index": index},
                )
                found[f"log {name} try {attempt}"] = json.dumps(body)
        entries = self.api.request(
            "GET", f"{base}/taskInstances/~/xcomEntries", query={"limit": 1000}
        )
        for entry in entries["xcom_entries"]:
            value = self.api.request(
                "GET",
                f"{base}/taskInstances/{entry['task_id']}/xcomEntries/{quote(entry['key'])}",
                query={"map_index": entry.get("map_index", -1)},
            )
            found[f"xcom {entry['task_id']}[{entry.get('map_index', -1)}] {entry['key']}"] = (
                json.dumps(value)
            )
        return found
