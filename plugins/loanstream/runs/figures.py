"""What happened in run R: the one read model of a run, for the ``summarize`` task, the
Loanstream page, its JSON API and the metrics (they read a run's counts, bands, decisions and
latency here and nowhere else, so they cannot disagree).

Every figure comes from the tables the pipeline writes, read with constant SQL:

- a run is a ``run_ledger`` row (run id, topic): its producer's state and ``delivered`` count
  (*produced*), ``rejected`` rows;
- *scored* is the run's rows in ``risk_decisions`` (every decision, append-only: a later run
  re-scoring the same loans does not take them from this one, as it does in ``risk_scored``);
- *dead-lettered* is the run's open rows in ``dead_letters``; *redriven* the resolved ones
  (scored since, so counted in *scored*); *missing* = produced - scored - dead-lettered when
  positive, *resent* its opposite: events stored twice because a killed producer's retry sent
  the file again (the ledger's ``delivered`` is its last attempt's);
- latency is ``scored_at - event_time`` of the run's decisions, redriven dead letters left out
  (their ``scored_at`` is the redrive's);
- throughput is the run's decisions per time bucket by ``event_time`` (produced) and
  ``scored_at`` (stored).

Computed once: a run's mix, latency, histogram and throughput are stored (``figures_store``,
table ``run_figures``) when ``summarize`` reads them at the run's end, or when the page first
reads a run whose producer finished ``SETTLE_S`` ago; later reads take them from there, so a
2-million-event run costs one indexed read, not seconds of sorting, per request. Dead-letter
counts are read afresh each time.

Functions take an open psycopg2 connection and return plain dicts/lists (JSON-ready).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from loanstream.runs import figures_store

RUNS_SQL = """
SELECT run_id, topic, state, attempt, source_file, sent, delivered, failed, rejected, message,
       started_at, heartbeat_at, finished_at
FROM run_ledger ORDER BY started_at DESC, run_id LIMIT %s
"""
RUN_SQL = """
SELECT run_id, topic, state, attempt, source_file, sent, delivered, failed, rejected, message,
       started_at, heartbeat_at, finished_at
FROM run_ledger WHERE run_id = %s ORDER BY started_at DESC LIMIT 1
"""
RUNS_BY_ID_SQL = """
SELECT run_id, topic, state, attempt, source_file, sent, delivered, failed, rejected, message,
       started_at, heartbeat_at, finished_at
FROM run_ledger WHERE run_id = ANY(%s)
"""
_RUN_FIELDS = (
    "run_id", "topic", "state", "attempt", "source_file", "sent", "delivered", "failed",
    "rejected", "message", "started_at", "heartbeat_at", "finished_at",
)  # fmt: skip

MIX_SQL = """
SELECT run_id, src_topic, risk_band, decision, rules_version, count(*)
FROM risk_decisions WHERE run_id = ANY(%s)
GROUP BY 1, 2, 3, 4, 5
"""
DEAD_COUNTS_SQL = """
SELECT run_id, topic, count(*) FILTER (WHERE resolved_at IS NULL),
       count(*) FILTER (WHERE resolved_at IS NOT NULL)
FROM dead_letters WHERE run_id = ANY(%s)
GROUP BY 1, 2
"""
# p50/p95/p99/max in milliseconds of each run's decisions (redriven dead letters left out).
LATENCY_SQL = """
SELECT d.run_id,
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY ms),
       max(ms)
FROM (SELECT r.run_id, EXTRACT(EPOCH FROM r.scored_at - r.event_time) * 1000 AS ms
      FROM risk_decisions AS r
      WHERE r.run_id = ANY(%s) AND r.event_time IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM dead_letters AS x
                        WHERE x.topic = r.src_topic AND x.partition = r.src_partition
                          AND x."offset" = r.src_offset)) AS d
GROUP BY d.run_id
"""
# The latency histogram's buckets (milliseconds, upper bounds; +Inf implied) of one run.
LATENCY_BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
LATENCY_HISTOGRAM_SQL = """
SELECT width_bucket(ms, %(bounds)s::float8[]), count(*), sum(ms)
FROM (SELECT EXTRACT(EPOCH FROM r.scored_at - r.event_time)::float8 * 1000 AS ms
      FROM risk_decisions AS r
      WHERE r.run_id = %(run_id)s AND r.event_time IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM dead_letters AS x
                        WHERE x.topic = r.src_topic AND x.partition = r.src_partition
                          AND x."offset" = r.src_offset)) AS d
GROUP BY 1
"""
SPAN_SQL = """
SELECT min(event_time), max(GREATEST(scored_at, event_time))
FROM risk_decisions WHERE run_id = %s
"""
THROUGHPUT_SQL = """
SELECT 'produced', floor(EXTRACT(EPOCH FROM event_time - %(t0)s) / %(width)s)::int, count(*)
FROM risk_decisions WHERE run_id = %(run_id)s AND event_time IS NOT NULL GROUP BY 2
UNION ALL
SELECT 'stored', floor(EXTRACT(EPOCH FROM scored_at - %(t0)s) / %(width)s)::int, count(*)
FROM risk_decisions WHERE run_id = %(run_id)s GROUP BY 2
"""

MAX_RUNS = 100
MAX_BUCKETS = 300  # points of a throughput series (longer runs get wider buckets)
SETTLE_S = 60  # the page stores a final run's figures this long after its producer finished
FINAL_STATES = ("complete", "stopped", "failed")
# what is stored of a final run (dead-letter counts are read afresh each time: cheap)
STORED = ("bands", "decisions", "rules_versions", "latency_ms", "throughput", "latency_histogram")
_EMPTY_MIX: dict[str, dict[str, int]] = {"bands": {}, "decisions": {}, "rules_versions": {}}
_NO_LATENCY = {"p50": None, "p95": None, "p99": None, "max": None}


def iso(value: Any) -> Any:
    """A datetime as ISO 8601 text; anything else as it is."""
    return value.isoformat() if isinstance(value, datetime) else value


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(float(value), digits)


def _run_row(row: tuple) -> dict[str, Any]:
    return {k: iso(v) for k, v in zip(_RUN_FIELDS, row, strict=True)}


def _final(run: dict[str, Any], settle_s: float) -> bool:
    """A run whose figures can no longer change: its producer's state final, nothing missing,
    finished at least ``settle_s`` ago (risk_decisions is append-only; a redrive or another
    attempt of the producer changes what stored figures were computed from)."""
    finished = run.get("finished_at")
    if run["state"] not in FINAL_STATES or run["missing"] > 0 or not finished:
        return False
    return (datetime.now(UTC) - datetime.fromisoformat(finished)).total_seconds() >= settle_s


def _mix(cur: Any, ids: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
    mix: dict[tuple[str, str], dict[str, Any]] = {}
    cur.execute(MIX_SQL, (ids,))
    for run_id, topic, band, decision, version, n in cur.fetchall():
        m = mix.setdefault((run_id, topic), {"bands": {}, "decisions": {}, "rules_versions": {}})
        for key, name in (("bands", band), ("decisions", decision), ("rules_versions", version)):
            m[key][name] = m[key].get(name, 0) + n
    return mix


def _latency(cur: Any, ids: list[str]) -> dict[str, dict[str, float | None]]:
    cur.execute(LATENCY_SQL, (ids,))
    return {
        run_id: {"p50": _round(p50), "p95": _round(p95), "p99": _round(p99), "max": _round(worst)}
        for run_id, (p50, p95, p99), worst in cur.fetchall()
    }


def _complete(
    runs: list[dict[str, Any]], cur: Any, latency: bool, detail: bool = False,
    settle_s: float | None = SETTLE_S,
) -> list[dict[str, Any]]:  # fmt: skip
    """Add the counts (and latency; with ``detail`` the throughput series and histogram) to
    ledger rows: stored figures where a run has them (``figures_store``), computed from
    risk_decisions otherwise. A final run's computed figures are stored (``settle_s`` after it
    finished; None: never); dead-letter counts are always read afresh (cheap)."""
    dead, stored = _stored_figures(cur, runs)
    live_ids = sorted({r["run_id"] for r in runs if (r["run_id"], r["topic"]) not in stored})
    mix = _mix(cur, live_ids) if live_ids else {}
    percentiles = _latency(cur, live_ids) if latency and live_ids else {}
    for run in runs:
        key = (run["run_id"], run["topic"])
        found = stored.get(key)
        m = found or mix.get(key, _EMPTY_MIX)
        scored = sum(m["bands"].values())
        open_, resolved = dead.get(key, (0, 0))
        balance = run["delivered"] - scored - open_
        run.update(
            produced=run["delivered"], scored=scored, dead_lettered=open_, redriven=resolved,
            missing=max(0, balance), resent=max(0, -balance),
            bands=dict(sorted(m["bands"].items())),
            decisions=dict(sorted(m["decisions"].items())),
            rules_versions=dict(sorted(m["rules_versions"].items())),
        )  # fmt: skip
        if found is not None:
            run["figures_stored"] = True
            if latency:
                run["latency_ms"] = found["latency_ms"]
            if detail:
                run["throughput"] = found["throughput"]
                run["latency_histogram"] = found["latency_histogram"]
            continue
        run["figures_stored"] = False
        if latency:
            run["latency_ms"] = percentiles.get(run["run_id"], dict(_NO_LATENCY))
        if detail:
            run["throughput"] = _throughput(cur, run["run_id"])
            run["latency_histogram"] = _histogram(cur, run["run_id"])
        if latency and settle_s is not None and run["attempt"] is not None and _final(run, settle_s):
            _store(cur, run)
    return runs


def _stored_figures(cur: Any, runs: list[dict[str, Any]]) -> tuple[dict, dict]:
    """The ``runs``' dead-letter counts ((run_id, topic) -> (open, redriven)) and their stored
    figures that are still valid ((run_id, topic) -> figures)."""
    dead: dict[tuple[str, str], tuple[int, int]] = {}
    cur.execute(DEAD_COUNTS_SQL, (sorted({r["run_id"] for r in runs}),))
    for run_id, topic, open_, resolved in cur.fetchall():
        dead[(run_id, topic)] = (open_, resolved)
    return dead, figures_store.load(cur, runs, {k: v[1] for k, v in dead.items()})


def _store(cur: Any, run: dict[str, Any]) -> None:
    """Store a final run's figures (computing the series the caller did not ask for)."""
    if "throughput" not in run:
        run["throughput"] = _throughput(cur, run["run_id"])
        run["latency_histogram"] = _histogram(cur, run["run_id"])
    figures_store.save(cur, run, {k: run[k] for k in STORED})
    run["figures_stored"] = True


def _commit(conn: Any) -> None:
    """End the read's transaction, keeping the figures it stored (if any)."""
    conn.commit()


def recent_runs(conn: Any, limit: int = 20, *, latency: bool = True) -> list[dict[str, Any]]:
    """The last ``limit`` runs (newest first), each with its counts, mix and latency."""
    limit = max(1, min(int(limit), MAX_RUNS))
    with conn.cursor() as cur:
        cur.execute(RUNS_SQL, (limit,))
        runs = [_run_row(row) for row in cur.fetchall()]
        found = _complete(runs, cur, latency) if runs else []
    _commit(conn)
    return found


def runs_counts(conn: Any, run_ids: list[str]) -> list[dict[str, Any]]:
    """The ledger's runs ``run_ids`` with their counts and mix, no latency (the metrics' totals)."""
    with conn.cursor() as cur:
        cur.execute(RUNS_BY_ID_SQL, (list(run_ids),))
        runs = [_run_row(row) for row in cur.fetchall()]
        return _complete(runs, cur, latency=False) if runs else []


def latency_histogram(conn: Any, run_id: str) -> dict[str, Any]:
    """One run's latency histogram alone (see :func:`run_detail`): its stored one if the run's
    figures are stored (a large run's took seconds to compute), else computed."""
    with conn.cursor() as cur:
        cur.execute(RUNS_BY_ID_SQL, ([run_id],))
        runs = [_run_row(row) for row in cur.fetchall()]
        _, stored = _stored_figures(cur, runs) if runs else ({}, {})
        for found in stored.values():
            return found["latency_histogram"]
        return _histogram(cur, run_id)


def run_detail(conn: Any, run_id: str) -> dict[str, Any] | None:
    """One run's counts, mix, latency and throughput series; None if the ledger has no such run."""
    with conn.cursor() as cur:
        cur.execute(RUN_SQL, (run_id,))
        row = cur.fetchone()
        if row is None:
            return None
        run = _complete([_run_row(row)], cur, latency=True, detail=True)[0]
    _commit(conn)
    return run


def _throughput(cur: Any, run_id: str) -> dict[str, Any]:
    """Events/s produced (event_time) and stored (scored_at) per bucket of ``width`` seconds."""
    cur.execute(SPAN_SQL, (run_id,))
    t0, t1 = cur.fetchone()
    if t0 is None:
        return {"start": None, "width_s": 1, "produced": [], "stored": []}
    span = max(1.0, (t1 - t0).total_seconds())
    width = max(1, math.ceil(span / MAX_BUCKETS))
    cur.execute(THROUGHPUT_SQL, {"t0": t0, "width": width, "run_id": run_id})
    series: dict[str, dict[int, int]] = {"produced": {}, "stored": {}}
    for kind, bucket, n in cur.fetchall():
        series[kind][bucket] = n
    last = max((b for s in series.values() for b in s), default=0)
    return {
        "start": t0.isoformat(),
        "width_s": width,
        **{
            kind: [round(values.get(b, 0) / width, 2) for b in range(last + 1)]
            for kind, values in series.items()
        },
    }


def _histogram(cur: Any, run_id: str) -> dict[str, Any]:
    """Cumulative counts of the run's latencies per bucket (Prometheus' ``le`` form)."""
    cur.execute(LATENCY_HISTOGRAM_SQL, {"bounds": list(LATENCY_BUCKETS_MS), "run_id": run_id})
    per_bucket = {b: (n, total) for b, n, total in cur.fetchall()}
    # width_bucket gives 0 below the first bound and i for [bound[i-1], bound[i]): bucket i
    # is "le bound[i]" (a value equal to a bound lands one higher: immaterial at these bounds);
    # len(bounds) is above the last one (+Inf only).
    cumulative, running = [], 0
    for index, bound in enumerate(LATENCY_BUCKETS_MS):
        running += per_bucket.get(index, (0, 0))[0]
        cumulative.append((bound, running))
    count = sum(n for n, _ in per_bucket.values())
    total = sum(float(s or 0) for _, s in per_bucket.values())
    return {"buckets_ms": cumulative, "count": count, "sum_ms": round(total, 3)}


def run_figures(
    conn: Any, run_id: str, topic: str | None = None, delivered: int = 0, *, store: bool = False
) -> dict[str, Any]:
    """One run's counts, mix and latency (no throughput series): what ``summarize`` reports.

    With ``store`` (the ``summarize`` task: the run's consumers are done) a final run's figures
    are stored at once. A run the ledger does not know (its producer kept no ledger) has the
    ledger's fields None, ``delivered`` as its producer reported it, and counts from ``topic``'s
    rows alone; its figures are never stored."""
    with conn.cursor() as cur:
        cur.execute(RUN_SQL, (run_id,))
        row = cur.fetchone()
        run = _run_row(row) if row is not None else {
            **dict.fromkeys(_RUN_FIELDS), "run_id": run_id, "topic": topic, "delivered": delivered,
        }  # fmt: skip
        found = _complete([run], cur, latency=True, settle_s=0 if store else SETTLE_S)[0]
    _commit(conn)
    return found
