"""Who may use the Loanstream page: Airflow's auth manager, asked about the Dag a route is about.

- reading (the page, runs, a run, lag, dead letters, the metrics) is reading the Dag runs of
  ``loan_stream_pipeline`` (``GET``, ``DagAccessEntity.RUN``);
- a redrive does what a ``dead_letter_redrive`` run does: it needs the right to trigger that
  Dag (``POST``, ``DagAccessEntity.RUN``).

The Dag id is a constant of this module, never read from the request (Airflow's own
``requires_access_dag`` takes it from the path or the query string when it is not given), so
an auth manager with rights per Dag (FAB, Keycloak) decides about the right one. No credential
or an expired one: 401 (a token Airflow did not sign: 403, as Airflow's API answers); a user
without the right: 403.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import Depends, HTTPException

PIPELINE_DAG_ID = "loan_stream_pipeline"
REDRIVE_DAG_ID = "dead_letter_redrive"

Method = Literal["GET", "POST", "PUT", "DELETE"]


def _team_name(dag_id: str) -> str | None:
    """The Dag's team, asked only when Airflow runs with teams (``[core] multi_team``)."""
    from airflow.configuration import conf
    from airflow.models.dag import DagModel

    if not conf.getboolean("core", "multi_team", fallback=False):
        return None
    return DagModel.get_team_name(dag_id)


def check_dag_access(user: BaseUser, method: Method, dag_id: str) -> None:
    """Raise 403 unless the auth manager lets ``user`` do ``method`` on the Dag runs of ``dag_id``."""
    allowed = get_auth_manager().is_authorized_dag(
        method=method,
        access_entity=DagAccessEntity.RUN,
        details=DagDetails(id=dag_id, team_name=_team_name(dag_id)),
        user=user,
    )
    if not allowed:
        raise HTTPException(403, f"Forbidden: {method} on the Dag runs of {dag_id}")


def dag_runs_access(method: Method, dag_id: str) -> Callable[[BaseUser], BaseUser]:
    """A FastAPI dependency: the logged-in user (401 without one), if allowed on ``dag_id``.
    Synchronous, so FastAPI runs it in its thread pool (an auth manager may call a server)."""

    def allowed_user(user: GetUserDep) -> BaseUser:
        check_dag_access(user, method, dag_id)
        return user

    return allowed_user


read_pipeline_runs = dag_runs_access("GET", PIPELINE_DAG_ID)
trigger_redrive = dag_runs_access("POST", REDRIVE_DAG_ID)
PipelineReader = Annotated[BaseUser, Depends(read_pipeline_runs)]
RedriveUser = Annotated[BaseUser, Depends(trigger_redrive)]
