-- Migration 0006: a run's figures, computed once (issue 24).
--
-- The counts, mix, latency percentiles and histogram and the throughput series of a run
-- (loanstream.runs.figures) took seconds to compute over a large run's decisions, on every
-- request of the Loanstream page, its API and the metrics. Once a run is over they are stored
-- here, as JSON, with what they were computed from: the ledger row's attempt, delivered count
-- and finished_at, and the run's redriven dead letters. The read model uses a stored row only
-- while those still match (a producer's retry or a redrive computes the figures again), and
-- keeps them when old decisions are pruned (prune_risk_decisions): a run's figures outlive
-- its history.
CREATE TABLE IF NOT EXISTS run_figures (
    run_id       text NOT NULL,
    topic        text NOT NULL,
    attempt      integer NOT NULL,
    delivered    bigint NOT NULL,
    finished_at  timestamptz NOT NULL,
    redriven     bigint NOT NULL,
    figures      jsonb NOT NULL,
    computed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, topic)
);
