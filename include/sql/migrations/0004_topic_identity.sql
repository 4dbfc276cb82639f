-- Migration 0004: which topic the stored offsets belong to. A topic deleted and created again
-- under the same name starts its offsets at 0 again; offsets stored for the old one would make
-- the sink take the new topic's events for ones already scored (and skip them). Kafka gives
-- each topic a new id when it is created (KIP-516): the sink stores it beside the offsets and
-- refuses a topic whose id is not the stored one (loanstream.sink.topic_identity).
-- NULL: stored before this migration (the sink adopts the topic's id on its next start).
ALTER TABLE consumer_offsets ADD COLUMN IF NOT EXISTS topic_id text;
