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

Functions take an open psycopg2 connection and return plain dicts/lists (JSON-ready).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

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
SETTLE_S = 60  # a final run's latency is cached this long after its producer finished
MAX_CACHED = 1000


def iso(value: Any) -> Any:
    """A datetime as ISO 8601 text; anything else as it is."""
    return value.isoformat() if isinstance(value, datetime) else value


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(float(value), digits)


def _run_row(row: tuple) -> dict[str, Any]:
    return {k: iso(v) for k, v in zip(_RUN_FIELDS, row, strict=True)}


def _settled(run: dict[str, Any]) -> bool:
    """A run whose latency can no longer change: final, nothing missing, finished a while ago
    (risk_decisions is append-only and a redrive's rows are left out of the latency)."""
    finished = run.get("finished_at")
    if run["state"] not in ("complete", "stopped", "failed") or run["missing"] > 0 or not finished:
        return False
    return (datetime.now(UTC) - datetime.fromisoformat(finished)).total_seconds() > SETTLE_S


def _complete(
    runs: list[dict[str, Any]],
    cur: Any,
    latency: bool,
    cache: dict[tuple[str, str], dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Add the counts (and latency) from risk_decisions and dead_letters to ledger rows.

    ``cache`` keeps the latency of settled runs (sorting a 2-million-event run's latencies
    takes seconds; counts are always read afresh)."""
    ids = sorted({r["run_id"] for r in runs})
    mix: dict[tuple[str, str], dict[str, Any]] = {}
    cur.execute(MIX_SQL, (ids,))
    for run_id, topic, band, decision, version, n in cur.fetchall():
        m = mix.setdefault((run_id, topic), {"bands": {}, "decisions": {}, "rules_versions": {}})
        for key, name in (("bands", band), ("decisions", decision), ("rules_versions", version)):
            m[key][name] = m[key].get(name, 0) + n
    dead: dict[tuple[str, str], tuple[int, int]] = {}
    cur.execute(DEAD_COUNTS_SQL, (ids,))
    for run_id, topic, open_, resolved in cur.fetchall():
        dead[(run_id, topic)] = (open_, resolved)
    percentiles: dict[str, dict[str, float | None]] = {}
    cached = {
        r["run_id"]: cache[k] for r in runs if cache and (k := (r["run_id"], r["topic"])) in cache
    }
    wanted = [i for i in ids if i not in cached]
    percentiles.update(cached)
    if latency and wanted:
        cur.execute(LATENCY_SQL, (wanted,))
        for run_id, (p50, p95, p99), worst in cur.fetchall():
            percentiles[run_id] = {
                "p50": _round(p50), "p95": _round(p95), "p99": _round(p99), "max": _round(worst)
            }  # fmt: skip
    for run in runs:
        key = (run["run_id"], run["topic"])
        m = mix.get(key, {"bands": {}, "decisions": {}, "rules_versions": {}})
        scored = sum(m["bands"].values())
        open_, resolved = dead.get(key, (0, 0))
        balance = run["delivered"] - scored - open_
        run.update(
            produced=run["delivered"],
            scored=scored,
            dead_lettered=open_,
            redriven=resolved,
            missing=max(0, balance),
            resent=max(0, -balance),
            bands=dict(sorted(m["bands"].items())),
            decisions=dict(sorted(m["decisions"].items())),
            rules_versions=dict(sorted(m["rules_versions"].items())),
        )
        if latency:
            run["latency_ms"] = percentiles.get(
                run["run_id"], {"p50": None, "p95": None, "p99": None, "max": None}
            )
            if cache is not None and _settled(run):
                if len(cache) >= MAX_CACHED:
                    cache.clear()
                cache[key] = run["latency_ms"]
    return runs


def recent_runs(
    conn: Any,
    limit: int = 20,
    *,
    latency: bool = True,
    cache: dict[tuple[str, str], dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The last ``limit`` runs (newest first), each with its counts, mix and latency."""
    limit = max(1, min(int(limit), MAX_RUNS))
    with conn.cursor() as cur:
        cur.execute(RUNS_SQL, (limit,))
        runs = [_run_row(row) for row in cur.fetchall()]
        return _complete(runs, cur, latency, cache) if runs else []


def runs_counts(conn: Any, run_ids: list[str]) -> list[dict[str, Any]]:
    """The ledger's runs ``run_ids`` with their counts and mix, no latency (the metrics' totals)."""
    with conn.cursor() as cur:
        cur.execute(RUNS_BY_ID_SQL, (list(run_ids),))
        runs = [_run_row(row) for row in cur.fetchall()]
        return _complete(runs, cur, latency=False) if runs else []


def latency_histogram(conn: Any, run_id: str) -> dict[str, Any]:
    """One run's latency histogram alone (see :func:`run_detail`)."""
    with conn.cursor() as cur:
        return _histogram(cur, run_id)


def run_detail(conn: Any, run_id: str) -> dict[str, Any] | None:
    """One run's counts, mix, latency and throughput series; None if the ledger has no such run."""
    with conn.cursor() as cur:
        cur.execute(RUN_SQL, (run_id,))
        row = cur.fetchone()
        if row is None:
            return None
        run = _complete([_run_row(row)], cur, latency=True)[0]
        run["throughput"] = _throughput(cur, run_id)
        run["latency_histogram"] = _histogram(cur, run_id)
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
    conn: Any, run_id: str, topic: str | None = None, delivered: int = 0
) -> dict[str, Any]:
    """One run's counts, mix and latency (no throughput series): what ``summarize`` reports.

    A run the ledger does not know (its producer kept no ledger) has the ledger's fields None,
    ``delivered`` as its producer reported it, and counts from ``topic``'s rows alone."""
    with conn.cursor() as cur:
        cur.execute(RUN_SQL, (run_id,))
        row = cur.fetchone()
        run = _run_row(row) if row is not None else {
            **dict.fromkeys(_RUN_FIELDS), "run_id": run_id, "topic": topic, "delivered": delivered,
        }  # fmt: skip
        return _complete([run], cur, latency=True)[0]
