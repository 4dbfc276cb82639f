"""The Loanstream metrics in Prometheus' text exposition format (version 0.0.4).

``render`` is pure: it takes what :mod:`loanstream.monitoring.scrape`,
:mod:`loanstream.monitoring.queries` and :func:`loanstream.runs.lag.lag_of_topics` read (and
the Dag runs Airflow counts) and returns the text ``/loanstream/metrics`` serves.

| metric | type | labels |
|---|---|---|
| ``loanstream_events_produced_total`` | counter | ``topic`` (every run in the ledger) |
| ``loanstream_events_scored_total`` | counter | ``topic`` (``risk_decisions`` rows of those runs) |
| ``loanstream_events_dead_lettered_total`` | counter | ``topic`` (dead letters, open or redriven) |
| ``loanstream_dead_letters`` | gauge | ``state`` = open / redriven |
| ``loanstream_run_state`` | gauge (1) | ``run_id``, ``topic``, ``state`` (the newest runs' ledger state) |
| ``loanstream_producer_heartbeat_age_seconds`` | gauge | ``run_id``, ``topic`` (live producers only) |
| ``loanstream_dag_runs_total`` | counter | ``dag_id``, ``state`` (the loanstream Dags' runs) |
| ``loanstream_last_run_events`` | gauge | ``run_id``, ``kind`` = produced / scored / dead_lettered / missing / redriven / resent |
| ``loanstream_last_run_state`` | gauge (1) | ``run_id``, ``state`` |
| ``loanstream_last_run_latency_seconds`` | histogram | ``run_id`` (``scored_at - event_time``) |
| ``loanstream_consumer_lag_events`` | gauge | ``topic``, ``partition`` |
| ``loanstream_scrape_error`` | gauge (1) | ``source`` (a part that could not be read) |
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
RUN_KINDS = ("produced", "scored", "dead_lettered", "missing", "redriven", "resent")


def label_value(value: Any) -> str:
    """A label value escaped as the format asks (backslash, double quote, line feed)."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: Any) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{label_value(v)}"' for k, v in labels.items()) + "}"


def _number(value: float | int) -> str:
    return repr(float(value)) if isinstance(value, float) else str(int(value))


class _Text:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, value: float | int, **labels: Any) -> None:
        self.lines.append(f"{name}{_labels(**labels)} {_number(value)}")


def render(
    *,
    totals: Mapping[str, int] | None,
    last_run: Mapping[str, Any] | None,
    lag: Mapping[str, Mapping[int, int]] | None,
    errors: Mapping[str, str] | None = None,
    topics: Mapping[str, Mapping[str, int]] | None = None,
    runs: list[Mapping[str, Any]] | None = None,
    dag_runs: Mapping[str, Mapping[str, int]] | None = None,
) -> str:
    """The exposition text. ``last_run`` is a :func:`~loanstream.runs.figures.run_detail`
    dict, ``lag`` ``{topic: {partition: events waiting}}``, ``errors`` ``{source: message}``
    for the parts that could not be read (they are left out, and flagged); ``topics``
    ``{topic: {produced, scored, dead_lettered}}``, ``runs`` the newest runs (``run_id``,
    ``topic``, ``state``, ``heartbeat_age``), ``dag_runs`` ``{dag_id: {state: runs}}``."""
    out = _Text()
    if topics is not None:
        _topic_counters(out, topics)
    if runs:
        _runs(out, runs)
    if dag_runs is not None:
        out.family("loanstream_dag_runs_total", "counter",
                   "Runs of the loanstream Dags by state (Airflow's metadata database).")  # fmt: skip
        for dag_id, states in sorted(dag_runs.items()):
            for state, n in sorted(states.items()):
                out.sample("loanstream_dag_runs_total", n, dag_id=dag_id, state=state)
    if totals is not None:
        out.family("loanstream_dead_letters", "gauge",
                   "Dead letters: open, and redriven (scored since).")  # fmt: skip
        out.sample("loanstream_dead_letters", totals["dead_open"], state="open")
        out.sample("loanstream_dead_letters", totals["dead_redriven"], state="redriven")
    if last_run is not None:
        run_id = last_run["run_id"]
        out.family("loanstream_last_run_events", "gauge",
                   "The last run's events by kind (missing = produced - scored - dead_lettered).")  # fmt: skip
        for kind in RUN_KINDS:
            out.sample("loanstream_last_run_events", last_run.get(kind) or 0, run_id=run_id,
                       kind=kind)  # fmt: skip
        out.family("loanstream_last_run_state", "gauge",
                   "The last run's producer state in the run ledger (1).")  # fmt: skip
        out.sample("loanstream_last_run_state", 1, run_id=run_id, state=last_run["state"])
        histogram = last_run.get("latency_histogram")
        if histogram:
            name = "loanstream_last_run_latency_seconds"
            out.family(name, "histogram",
                       "The last run's end-to-end latency, scored_at - event_time.")  # fmt: skip
            for bound_ms, count in histogram["buckets_ms"]:
                out.sample(f"{name}_bucket", count, run_id=run_id, le=repr(bound_ms / 1000))
            out.sample(f"{name}_bucket", histogram["count"], run_id=run_id, le="+Inf")
            out.sample(f"{name}_sum", round(histogram["sum_ms"] / 1000, 6), run_id=run_id)
            out.sample(f"{name}_count", histogram["count"], run_id=run_id)
    if lag:
        out.family("loanstream_consumer_lag_events", "gauge",
                   "Events in the topic not yet stored in Postgres, per partition.")  # fmt: skip
        for topic, partitions in sorted(lag.items()):
            for partition, waiting in sorted(partitions.items()):
                out.sample("loanstream_consumer_lag_events", waiting, topic=topic,
                           partition=partition)  # fmt: skip
    if errors:
        out.family("loanstream_scrape_error", "gauge",
                   "A part of the metrics that could not be read this time (1).")  # fmt: skip
        for source in sorted(errors):
            out.sample("loanstream_scrape_error", 1, source=source)
    return "\n".join(out.lines) + "\n"


TOPIC_COUNTERS = (
    ("produced", "Events delivered to Kafka by the runs of the run ledger."),
    ("scored", "Events of those runs scored and stored in Postgres (risk_decisions rows)."),
    ("dead_lettered", "Events of those runs dead-lettered (open or redriven since)."),
)


def _topic_counters(out: _Text, topics: Mapping[str, Mapping[str, int]]) -> None:
    for kind, help_text in TOPIC_COUNTERS:
        name = f"loanstream_events_{kind}_total"
        out.family(name, "counter", help_text)
        for topic, counts in sorted(topics.items()):
            out.sample(name, counts.get(kind, 0), topic=topic)


def _runs(out: _Text, runs: list[Mapping[str, Any]]) -> None:
    out.family("loanstream_run_state", "gauge",
               "The newest runs' producer state in the run ledger (1).")  # fmt: skip
    for run in runs:
        out.sample("loanstream_run_state", 1, run_id=run["run_id"], topic=run["topic"], state=run["state"])
    live = [r for r in runs if r.get("heartbeat_age") is not None]
    out.family("loanstream_producer_heartbeat_age_seconds", "gauge",
               "Seconds since a live producer's last heartbeat in the run ledger.")  # fmt: skip
    for run in live:
        out.sample("loanstream_producer_heartbeat_age_seconds", float(run["heartbeat_age"]),
                   run_id=run["run_id"], topic=run["topic"])  # fmt: skip
