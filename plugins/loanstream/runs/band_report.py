"""A per-run band report: the example of work hung off the ``risk_scored`` asset.

``loan_band_report`` (dags/) runs after each pipeline run that scored loans and writes one row
per run to ``band_reports`` (migration 0003): loans scored, and the mix of risk bands and
decisions.
"""

from __future__ import annotations

import json
from typing import Any

from loanstream.store.connect import pg_connect

WRITE_REPORT_SQL = """
INSERT INTO band_reports (run_id, scored, bands, decisions)
SELECT %(run_id)s,
       count(*),
       coalesce((SELECT jsonb_object_agg(risk_band, n) FROM (
           SELECT risk_band, count(*) AS n FROM risk_scored WHERE run_id = %(run_id)s
           GROUP BY risk_band) AS b), '{}'::jsonb),
       coalesce((SELECT jsonb_object_agg(decision, n) FROM (
           SELECT decision, count(*) AS n FROM risk_scored WHERE run_id = %(run_id)s
           GROUP BY decision) AS d), '{}'::jsonb)
FROM risk_scored WHERE run_id = %(run_id)s
ON CONFLICT (run_id) DO UPDATE
   SET scored = EXCLUDED.scored, bands = EXCLUDED.bands, decisions = EXCLUDED.decisions,
       reported_at = now()
RETURNING run_id, scored, bands, decisions
"""


def write_band_reports(dsn: str, run_ids: list[str]) -> list[dict[str, Any]]:
    """Write (or refresh) the report of each run; returns the rows written."""
    reports = []
    conn = pg_connect(dsn, "loanstream-band-report")
    try:
        with conn, conn.cursor() as cur:
            for run_id in dict.fromkeys(run_ids):  # once each, in order
                cur.execute(WRITE_REPORT_SQL, {"run_id": run_id})
                row = cur.fetchone()
                bands, decisions = (
                    value if isinstance(value, dict) else json.loads(value) for value in row[2:]
                )
                reports.append(
                    {"run_id": row[0], "scored": row[1], "bands": bands, "decisions": decisions}
                )
    finally:
        conn.close()
    return reports
