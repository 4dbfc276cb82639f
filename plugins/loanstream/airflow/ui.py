"""The Loanstream page: a FastAPI app the Airflow API server mounts at ``/loanstream``.

Routes (all behind Airflow's login: the UI's ``_token`` cookie or ``Authorization: Bearer``):

- ``GET /`` the page (no login: redirect to Airflow's login page, back here after it);
- ``GET /api/runs?limit=N``, ``GET /api/runs/{run_id}``, ``GET /api/lag?topic=T``,
  ``GET /api/dead-letters?run_id=&reason=&limit=``, ``GET /api/dead-letters/{id}`` (JSON);
- ``POST /api/dead-letters/redrive`` ``{"run_id", "reason", "ids", "limit"}``: score them again;
- ``GET /metrics``: Prometheus text.

Reading needs the right to read ``loan_stream_pipeline``'s Dag runs, a redrive the right to
trigger ``dead_letter_redrive`` (the auth manager decides, asked about those Dags by name:
:mod:`loanstream.airflow.page_access`). A redrive records the user in ``resolved_by`` and two
entries in Airflow's audit log (:mod:`loanstream.airflow.audit`): the request, written before
anything is read (a redrive whose request cannot be recorded is refused), and the outcome.
``/metrics`` also opens to the metrics token (``LOANSTREAM_METRICS_TOKEN``,
:mod:`loanstream.monitoring.access`), which opens nothing else. The figures come from ``loanstream.monitoring``; this module only wires.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from airflow.models.dag import DagModel
from airflow.models.dagrun import DagRun
from airflow.models.xcom import XComModel
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from sqlalchemy import bindparam, func, select

from loanstream.airflow import audit
from loanstream.airflow.hooks import kafka_config, postgres_dsn
from loanstream.airflow.page_access import (
    PIPELINE_DAG_ID,
    REDRIVE_DAG_ID,
    RedriveUser,
    check_dag_access,
    read_pipeline_runs,
)
from loanstream.config import Settings

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
# Scripts and styles only from this app's files: a value that slipped through escaping still
# could not run. Framed only by Airflow's own UI (same origin).
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'self'"
)
MAX_WEB_REDRIVE = 10_000  # a bigger redrive: the dead_letter_redrive DAG or the CLI


async def _metrics_access(request: Request) -> None:
    """The metrics token, or else Airflow's login with the right to read the pipeline's runs."""
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    from loanstream.monitoring.access import metrics_token_matches

    if metrics_token_matches(request.headers.get("authorization"), Settings.from_env().metrics_token):
        return
    user = await get_user(request, None, await bearer_scheme(request))
    check_dag_access(user, "GET", PIPELINE_DAG_ID)


_SCRAPE_CACHE: dict = {}  # counts and latency of settled runs (loanstream.monitoring.scrape)
_LAG_READERS: dict = {}  # the scrape's Kafka clients, kept (loanstream.runs.lag.LagReader)
@contextlib.contextmanager
def _db() -> Iterator[Any]:
    """A connection to the loanstream database for one request; closed after it. A database
    behind this code's migrations (a column or table missing) answers 503 saying what to run."""
    import psycopg2.errors

    from loanstream.store.connect import first_line, pg_connect
    from loanstream.store.migrations import MIGRATE_HINT

    try:
        conn = pg_connect(postgres_dsn(), application_name="loanstream-ui")
    except Exception as exc:  # noqa: BLE001 - psycopg2 or the connection lookup
        log.error("Loanstream page: cannot reach the loanstream database (%s)", first_line(exc))
        raise HTTPException(
            503, "the loanstream database is not reachable; see `make status`"
        ) from None
    try:
        yield conn
    except (psycopg2.errors.UndefinedColumn, psycopg2.errors.UndefinedTable) as exc:
        log.error("Loanstream page: %s; %s", first_line(exc), MIGRATE_HINT)
        raise HTTPException(503, f"the loanstream database is behind this code: {MIGRATE_HINT}") from None
    finally:
        conn.close()


# Airflow's own tables, through its models (bound parameters, as everywhere).
_DAG_RUNS_SQL = select(DagRun.run_id, DagRun.dag_id, DagRun.state).where(
    DagRun.run_id.in_(bindparam("ids", expanding=True))
)
_PRODUCED_SQL = select(XComModel.run_id, XComModel.value).where(
    XComModel.run_id.in_(bindparam("ids", expanding=True)),
    XComModel.task_id == "produce_events",
    XComModel.key == "return_value",
    XComModel.map_index == -1,
)


def _with_airflow_runs(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add what only Airflow knows of each run: its Dag, the Dag run's state and the lines the
    producer skipped (banner, section titles, totals: its XCom ``skipped_lines``)."""
    from airflow.utils.session import create_session

    ids = sorted({r["run_id"] for r in runs})
    for run in runs:
        run.update(dag_id=None, dag_run_state=None, skipped_lines=None, skipped_by_kind={})
    if not ids:
        return runs
    try:
        with create_session() as session:
            dag_runs = session.execute(_DAG_RUNS_SQL, {"ids": ids}).all()
            produced = session.execute(_PRODUCED_SQL, {"ids": ids}).all()
    except Exception as exc:  # noqa: BLE001 - the page still shows what Postgres has
        log.warning("Loanstream page: cannot read Dag runs from Airflow's database (%s)", exc)
        return runs
    by_id = {run_id: (dag_id, str(state) if state else None) for run_id, dag_id, state in dag_runs}
    skipped: dict[str, dict[str, int]] = {}
    for run_id, value in produced:
        stats = json.loads(value) if isinstance(value, str) else value
        if isinstance(stats, dict) and isinstance(stats.get("skipped_lines"), dict):
            skipped[run_id] = {
                str(kind): int(item.get("count", 0))
                for kind, item in stats["skipped_lines"].items()
                if isinstance(item, dict)
            }
    for run in runs:
        dag_id, state = by_id.get(run["run_id"], (None, None))
        run.update(dag_id=dag_id, dag_run_state=state)
        if run["run_id"] in skipped:
            run["skipped_by_kind"] = skipped[run["run_id"]]
            run["skipped_lines"] = sum(skipped[run["run_id"]].values())
    return runs


_DAG_RUN_COUNTS_SQL = select(DagRun.dag_id, DagRun.state, func.count()).group_by(DagRun.dag_id, DagRun.state)
_DAG_IDS_SQL = select(DagModel.dag_id)
DAG_RUN_FINAL_STATES = ("success", "failed")  # always shown (0 too): an alert sees the first


def _dag_run_counts() -> dict[str, dict[str, int]]:
    """Runs of each Dag of this Airflow (loanstream's) by state, from its metadata database."""
    from airflow.utils.session import create_session

    with create_session() as session:
        found = {d: dict.fromkeys(DAG_RUN_FINAL_STATES, 0) for (d,) in session.execute(_DAG_IDS_SQL)}
        for dag_id, state, n in session.execute(_DAG_RUN_COUNTS_SQL):
            found.setdefault(dag_id, dict.fromkeys(DAG_RUN_FINAL_STATES, 0))[str(state)] = n
    return found


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=HEADERS)


class RedriveBody(BaseModel):
    run_id: str | None = Field(default=None, max_length=250)
    reason: str | None = Field(default=None, max_length=200)
    ids: list[int] | None = Field(default=None, max_length=1000)
    limit: int = Field(default=1000, ge=1, le=MAX_WEB_REDRIVE)


def create_app() -> FastAPI:
    app = FastAPI(title="Loanstream", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="loanstream-static")
    read = [Depends(read_pipeline_runs)]

    @app.get("/", include_in_schema=False)
    async def page(request: Request) -> Any:
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

        try:  # the UI's session cookie (or a bearer token: the metrics token is refused here)
            user = await get_user(request, None, await bearer_scheme(request))
        except HTTPException:
            if request.headers.get("authorization"):  # an API client, not a browser: no login page
                raise
            here = request.scope.get("root_path", "") + "/"
            return RedirectResponse(get_auth_manager().get_url_login(next_url=here), 303)
        check_dag_access(user, "GET", PIPELINE_DAG_ID)  # 403: logged in, but not to these runs
        text = (STATIC / "index.html").read_text(encoding="utf-8")
        base = html.escape(request.scope.get("root_path", "") + "/", quote=True)
        return HTMLResponse(
            text.replace("{{BASE}}", base),
            headers={**HEADERS, "Content-Security-Policy": PAGE_CSP},
        )

    @app.get("/api/runs", dependencies=read)
    def runs(limit: int = Query(20, ge=1, le=100)) -> JSONResponse:
        from loanstream.runs import figures

        with _db() as conn:
            found = figures.recent_runs(conn, limit)
        return _json({"runs": _with_airflow_runs(found)})

    @app.get("/api/runs/{run_id:path}", dependencies=read)
    def run(run_id: str) -> JSONResponse:
        from loanstream.runs import figures

        if not 0 < len(run_id) <= 250:
            return _json({"error": "run id must have 1 to 250 characters"}, 400)
        with _db() as conn:
            found = figures.run_detail(conn, run_id)
        if found is None:
            return _json({"error": "no such run in the run ledger"}, 404)
        return _json(_with_airflow_runs([found])[0])

    @app.get("/api/lag", dependencies=read)
    def lag(topic: str | None = Query(None, max_length=249)) -> JSONResponse:
        from loanstream.runs.lag import LagError, partition_lag

        settings = Settings.from_env()
        try:
            found = partition_lag(
                kafka_config(check=False), postgres_dsn(), topic or settings.topic,
                settings.consumer_group,
            )  # fmt: skip
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        except LagError as exc:
            return _json({"error": str(exc), "topic": topic}, 503)
        return _json(found)

    @app.get("/api/dead-letters", dependencies=read)
    def dead_letters(
        run_id: str | None = Query(None, max_length=250),
        reason: str | None = Query(None, max_length=200),
        limit: int = Query(20, ge=1, le=500),
        all: bool = Query(False),  # noqa: A002 - the query parameter's name
    ) -> JSONResponse:
        from loanstream.monitoring import queries

        with _db() as conn:
            found = queries.dead_letters(
                conn, run_id=run_id or None, reason=reason or None, limit=limit, open_only=not all
            )
        return _json(found)

    @app.get("/api/dead-letters/{dead_letter_id}", dependencies=read)
    def dead_letter(dead_letter_id: int) -> JSONResponse:
        from loanstream.monitoring import queries

        with _db() as conn:
            found = queries.dead_letter(conn, dead_letter_id)
        return _json(found) if found else _json({"error": "no such dead letter"}, 404)

    @app.post("/api/dead-letters/redrive")
    def redrive(body: RedriveBody, request: Request, user: RedriveUser) -> JSONResponse:
        from loanstream.sink.errors import SinkError
        from loanstream.sink.redrive import RedriveError, Selection
        from loanstream.sink.redrive import redrive as run_redrive
        from loanstream.store.connect import pg_connect

        # A cookie-authenticated POST must come from this page: a custom header no other site
        # can send without a CORS preflight (which this app never allows).
        if request.headers.get("x-loanstream") != "redrive":
            return _json({"error": "missing header X-Loanstream: redrive"}, 400)
        try:
            selection = Selection.of(body.run_id, body.reason, body.ids, body.limit)
        except RedriveError as exc:
            return _json({"error": str(exc)}, 400)
        who = user.get_name()
        # No redrive without its audit entry: the request is recorded before anything is read,
        # and refused if Airflow's audit log cannot be written; the outcome follows.
        requested = audit.write_entry(
            audit.REDRIVE_REQUESTED_EVENT, user_name=who, dag_id=REDRIVE_DAG_ID,
            extra={"selection": selection.params(), "source": "loanstream page"},
        )  # fmt: skip
        if requested is None:
            return _json({"error": "Airflow's audit log cannot be written (the API server's log "
                                   "says why); nothing was redriven"}, 503)  # fmt: skip
        dsn = postgres_dsn()
        with _db():  # the schema's answer (503) if it is behind
            try:
                result = run_redrive(
                    lambda: pg_connect(dsn, "loanstream-redrive"), selection, resolved_by=who
                )
            except SinkError as exc:  # the schema registry, for a framed dead letter's new id
                audit.write_entry(audit.REDRIVE_EVENT, user_name=who, dag_id=REDRIVE_DAG_ID,
                                  extra={"selection": selection.params(), "error": str(exc),
                                         "requested_entry": requested})  # fmt: skip
                return _json({"error": str(exc)}, 503)
        found = result.to_dict()
        found["audit_request_id"] = requested
        found["audit_log_id"] = audit.write_entry(
            audit.REDRIVE_EVENT, user_name=who, dag_id=REDRIVE_DAG_ID,
            extra={"selection": selection.params(), "source": "loanstream page",
                   "requested_entry": requested, **found},
        )  # fmt: skip
        log.info("Loanstream page: %s by %s (audit log entry %s)", result.human_line(), who,
                 found["audit_log_id"])  # fmt: skip
        return _json(found)

    @app.get("/metrics", dependencies=[Depends(_metrics_access)])
    def metrics() -> PlainTextResponse:
        from loanstream.monitoring import metrics as prom
        from loanstream.monitoring import queries, scrape
        from loanstream.runs.lag import LagReader

        settings = Settings.from_env()
        errors: dict[str, str] = {}
        totals = found = dag_runs = None
        try:
            with _db() as conn:
                totals = queries.totals(conn)
                found = scrape.read(conn, _SCRAPE_CACHE, settings.metrics_runs)
        except HTTPException as exc:
            errors["postgres"] = str(exc.detail)
        try:
            dag_runs = _dag_run_counts()
        except Exception as exc:  # noqa: BLE001 - the rest of the metrics still answer
            log.warning("Loanstream metrics: cannot count Dag runs (%s)", exc)
            errors["dag_runs"] = str(exc)
        topics = sorted({settings.topic} | {r["topic"] for r in (found.runs if found else [])})
        config = kafka_config(check=False)
        reader = _LAG_READERS.get(repr(sorted(config.items())))
        if reader is None:  # the first scrape, or the Kafka connection changed
            for old in _LAG_READERS.values():
                old.close()
            _LAG_READERS.clear()
            reader = _LAG_READERS[repr(sorted(config.items()))] = LagReader(config)
        lag, lag_errors = reader.read(postgres_dsn(), topics, settings.consumer_group)
        errors.update({f"lag:{topic}": why for topic, why in lag_errors.items()})
        text = prom.render(
            totals=totals, last_run=found.last_run if found else None, lag=lag, errors=errors,
            topics=found.topics if found else None, runs=found.runs if found else None,
            dag_runs=dag_runs,
        )  # fmt: skip
        return PlainTextResponse(text, media_type=prom.CONTENT_TYPE, headers=HEADERS)

    return app


app = create_app()
