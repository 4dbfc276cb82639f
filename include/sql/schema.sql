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
    scored_at              timestamptz NOT NULL DEFAULT now(),
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
