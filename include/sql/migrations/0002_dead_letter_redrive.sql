-- 0002: dead-letter redrive (issue 16). Idempotent: safe to apply any number of times.
--
-- A dead letter is scored again by `loanstream dead-letters replay` (or the DAG
-- dead_letter_redrive). One that now scores goes to risk_scored / risk_decisions and is marked
-- resolved here in the same transaction; one that still fails keeps its row, with the new
-- error in `error` and the first one kept in `original_error`.
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS resolved_at timestamptz;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS resolved_by text;           -- the redrive's id
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS redrive_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS last_redrive_at timestamptz;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS original_error text;        -- the sink's reason
-- What a redrive and the Loanstream page look for: the open dead letters, by run.
CREATE INDEX IF NOT EXISTS dead_letters_open_idx ON dead_letters (run_id, id)
    WHERE resolved_at IS NULL;
