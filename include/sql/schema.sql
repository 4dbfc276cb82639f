-- loanstream schema. Idempotent: safe to apply any number of times (`loanstream schema`).

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
CREATE INDEX IF NOT EXISTS risk_scored_scored_at_idx ON risk_scored (scored_at);

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
