-- Migration 0005: each decision is stored once (issue 24).
--
-- Until 0004 the sink wrote every scored event twice: into risk_decisions (every decision,
-- append-only) and into risk_scored (the latest decision per loan, upserted). From here
-- risk_decisions is the only table written, and risk_scored is a view over it: the current
-- decision of each loan, read through risk_decisions' loan_id index.
--
-- Which decision is a loan's current one: the one with the latest event_time (NULL counts as
-- oldest), then the latest scored_at, then the highest source position. That is the rule the
-- dead-letter redrive already applied (a redriven, older event never replaced a newer one),
-- and the sink's "the last write wins" whenever events are produced in time order. The rule
-- is written here once; everything that asks for current decisions reads this view.

-- 1. Keep every stored decision: rows of risk_scored that risk_decisions does not hold (rows
--    stored before risk_decisions existed) are appended to it, as they are.
INSERT INTO risk_decisions (
    loan_id, loan_amnt, term_months, int_rate, annual_inc, dti, revol_util, emp_length_years,
    credit_history_months, fico, inq_last_6mths, delinq_2yrs, pub_rec, home_ownership, purpose,
    features_as_of, features_as_of_basis, risk_score, risk_band, decision, reasons,
    rules_version, event_time, scored_at, run_id, src_topic, src_partition, src_offset)
SELECT loan_id, loan_amnt, term_months, int_rate, annual_inc, dti, revol_util, emp_length_years,
    credit_history_months, fico, inq_last_6mths, delinq_2yrs, pub_rec, home_ownership, purpose,
    features_as_of, features_as_of_basis, risk_score, risk_band, decision, reasons,
    rules_version, event_time, scored_at, run_id, src_topic, src_partition, src_offset
FROM risk_scored
ON CONFLICT (src_topic, src_partition, src_offset) DO NOTHING;

-- 2. The table becomes the view.
DROP TABLE risk_scored;

CREATE VIEW risk_scored AS
SELECT d.loan_id, d.loan_amnt, d.term_months, d.int_rate, d.annual_inc, d.dti, d.revol_util,
       d.emp_length_years, d.credit_history_months, d.fico, d.inq_last_6mths, d.delinq_2yrs,
       d.pub_rec, d.home_ownership, d.purpose, d.features_as_of, d.features_as_of_basis,
       d.risk_score, d.risk_band, d.decision, d.reasons, d.rules_version, d.event_time,
       d.scored_at, d.run_id, d.src_topic, d.src_partition, d.src_offset
FROM risk_decisions AS d
WHERE NOT EXISTS (
    SELECT 1 FROM risk_decisions AS later
    WHERE later.loan_id = d.loan_id
      AND (coalesce(later.event_time, '-infinity'), later.scored_at, later.src_topic,
           later.src_partition, later.src_offset)
        > (coalesce(d.event_time, '-infinity'), d.scored_at, d.src_topic,
           d.src_partition, d.src_offset)
);
COMMENT ON VIEW risk_scored IS
    'The current decision of each loan: its decision in risk_decisions with the latest '
    'event_time, then scored_at, then source position (migration 0005).';

-- 3. Retention: decisions older than an age can be deleted, never a loan's current one.
--    risk_decisions stays append-only for everything else: its trigger lets a DELETE through
--    only inside prune_risk_decisions (which sets loanstream.pruning for its transaction).
CREATE OR REPLACE FUNCTION risk_decisions_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('loanstream.pruning', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'risk_decisions is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

-- Delete the decisions scored before now() - older_than that are no longer their loan's
-- current decision (not in the view); returns how many. Current state is never touched.
CREATE OR REPLACE FUNCTION prune_risk_decisions(older_than interval) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    deleted bigint;
BEGIN
    IF older_than < interval '0' THEN
        RAISE EXCEPTION 'older_than must not be negative: %', older_than;
    END IF;
    PERFORM set_config('loanstream.pruning', 'on', true);
    DELETE FROM risk_decisions AS d
    WHERE d.scored_at < now() - older_than
      AND NOT EXISTS (SELECT 1 FROM risk_scored AS c
                      WHERE c.loan_id = d.loan_id AND c.src_topic = d.src_topic
                        AND c.src_partition = d.src_partition AND c.src_offset = d.src_offset);
    GET DIAGNOSTICS deleted = ROW_COUNT;
    PERFORM set_config('loanstream.pruning', 'off', true);
    RETURN deleted;
END
$$;

-- Decisions by age (what a prune scans): scored_at grows with the table, so a BRIN index.
CREATE INDEX IF NOT EXISTS risk_decisions_scored_at_brin ON risk_decisions USING brin (scored_at);
