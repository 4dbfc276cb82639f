-- Migration 0003: band_reports, the table of the example Dag loan_band_report (scheduled on the
-- risk_scored asset): one row per pipeline run, the mix of risk bands and decisions it scored.
CREATE TABLE IF NOT EXISTS band_reports (
    run_id      text PRIMARY KEY,
    scored      bigint NOT NULL,
    bands       jsonb NOT NULL,
    decisions   jsonb NOT NULL,
    reported_at timestamptz NOT NULL DEFAULT now()
);
