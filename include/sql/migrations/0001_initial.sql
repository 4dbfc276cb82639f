-- Migration 0001: the loanstream tables as they stood before versioned migrations.
-- Applied once by `loanstream schema migrate` (`make up` runs it) and recorded in
-- schema_migrations. It stays idempotent (IF NOT EXISTS, ADD COLUMN IF NOT EXISTS): a database
-- made by the old include/sql/schema.sql already holds all of it, and is recorded as at 0001.
-- Never edit an applied migration (its checksum is checked): add the next NNNN_name.sql.

-- One row per loan id: the latest scoring of that loan, with the Kafka position it came from.
CREATE TABLE IF NOT EXISTS risk_scored (
    loan_id                text PRIMARY KEY,
    loan_amnt              numeric(14, 2) NOT NULL,
    term_months            smallint NOT NULL,
    int_rate               numeric(6, 3),
    annual_inc             numeric(16, 2),
    dti                    numeric(8, 3),
    revol_util             numeric(8, 3),
    emp_length_years       smallint,
    credit_history_months  integer,
    fico                   numeric(6, 1),
    inq_last_6mths         smallint,
    delinq_2yrs            smallint,
    pub_rec                smallint,
    home_ownership         text,
    purpose                text,
    features_as_of         date,
    features_as_of_basis   text CHECK (features_as_of_basis IN ('issue_d', 'event_time')),
    risk_score             smallint NOT NULL CHECK (risk_score BETWEEN 0 AND 100),
    risk_band              text NOT NULL,
    decision               text NOT NULL CHECK (decision IN ('approve', 'review', 'decline')),
    reasons                jsonb NOT NULL DEFAULT '[]'::jsonb,
    rules_version          text NOT NULL,
    event_time             timestamptz,
    scored_at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    run_id                 text,
    src_topic              text NOT NULL,
    src_partition          integer NOT NULL,
    src_offset             bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS risk_scored_run_id_idx ON risk_scored (run_id);

-- Where each (group, topic, partition) resumes: written in the same transaction as the rows.
CREATE TABLE IF NOT EXISTS consumer_offsets (
    consumer_group  text NOT NULL,
    topic           text NOT NULL,
    partition       integer NOT NULL,
    next_offset     bigint NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);

-- Events that could not be parsed or scored, kept whole with the reason.
CREATE TABLE IF NOT EXISTS dead_letters (
    id          bigserial PRIMARY KEY,
    topic       text NOT NULL,
    partition   integer NOT NULL,
    "offset"    bigint NOT NULL,
    key         text,
    raw_value   bytea,
    error       text NOT NULL,
    run_id      text,
    failed_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic, partition, "offset")
);
CREATE INDEX IF NOT EXISTS dead_letters_run_id_idx ON dead_letters (run_id);

-- scored_at is the clock when the row is written, just before its transaction commits (now()
-- would be the transaction's start). Databases made by older versions get the new default.
ALTER TABLE risk_scored ALTER COLUMN scored_at SET DEFAULT clock_timestamp();
-- Time-dependent features (credit history) are measured as of the application: issue_d when
-- the event has it, else event_time; these say which month and which field. Databases made by
-- older versions get the columns (NULL for the rows scored before).
ALTER TABLE risk_scored ADD COLUMN IF NOT EXISTS features_as_of date;
ALTER TABLE risk_scored ADD COLUMN IF NOT EXISTS features_as_of_basis text
    CHECK (features_as_of_basis IN ('issue_d', 'event_time'));
DROP INDEX IF EXISTS risk_scored_scored_at_idx;  -- was here briefly: nothing reads by scored_at

-- The run ledger: what a pipeline run's producer is doing, for the consumers, the sensor and
-- the summary. One row per (run, topic); the producer writes it, everything else reads it.
CREATE TABLE IF NOT EXISTS run_ledger (
    run_id        text NOT NULL,
    topic         text NOT NULL,
    state         text NOT NULL
                  CHECK (state IN ('producing', 'retrying', 'complete', 'stopped', 'failed')),
    attempt       integer NOT NULL DEFAULT 1,
    source_file   text,
    sent          bigint NOT NULL DEFAULT 0,
    delivered     bigint NOT NULL DEFAULT 0,
    failed        bigint NOT NULL DEFAULT 0,
    rejected      bigint NOT NULL DEFAULT 0,
    message       text,
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    PRIMARY KEY (run_id, topic)
);

-- Per partition of a run: where its events lie (first offset, last offset + 1, over every
-- attempt of the producer) and when a consumer went live on it.
CREATE TABLE IF NOT EXISTS run_partitions (
    run_id            text NOT NULL,
    topic             text NOT NULL,
    partition         integer NOT NULL,
    first_offset      bigint,
    end_offset        bigint,
    delivered         bigint NOT NULL DEFAULT 0,
    consumer_live_at  timestamptz,
    PRIMARY KEY (run_id, topic, partition)
);

-- Every decision, kept: one row per scored event, append-only (risk_scored keeps only the
-- latest decision per loan). Written in the same transaction as risk_scored. The event's
-- source position is the key: a replay (re-produced events, new offsets) adds decisions under
-- the rules of the day; an event already decided is never rewritten.
CREATE TABLE IF NOT EXISTS risk_decisions (
    -- risk_scored's columns, defaults and checks (one definition of a decision row)
    LIKE risk_scored INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    PRIMARY KEY (src_topic, src_partition, src_offset)
);
ALTER TABLE risk_decisions ADD COLUMN IF NOT EXISTS features_as_of date;
ALTER TABLE risk_decisions ADD COLUMN IF NOT EXISTS features_as_of_basis text
    CHECK (features_as_of_basis IN ('issue_d', 'event_time'));
CREATE INDEX IF NOT EXISTS risk_decisions_loan_id_idx ON risk_decisions (loan_id);
-- A run's decisions are appended together: a BRIN index finds them at a fraction of a btree's
-- cost per row written (the sink writes every row twice; bench_sink measures it).
DROP INDEX IF EXISTS risk_decisions_run_id_idx;
CREATE INDEX IF NOT EXISTS risk_decisions_run_id_brin ON risk_decisions USING brin (run_id);

-- Append-only for real: an UPDATE or DELETE of a decision is refused.
CREATE OR REPLACE FUNCTION risk_decisions_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'risk_decisions is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
DROP TRIGGER IF EXISTS risk_decisions_append_only ON risk_decisions;
CREATE TRIGGER risk_decisions_append_only BEFORE UPDATE OR DELETE ON risk_decisions
    FOR EACH ROW EXECUTE FUNCTION risk_decisions_append_only();
