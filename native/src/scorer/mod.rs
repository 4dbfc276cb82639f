//! The sink's scorer: a Kafka message -> event fields -> features -> rules -> one CSV line
//! for `COPY risk_scored` (`BatchScorer`).
//!
//! Contract (checked by tests/unit/test_native_scorer.py on every row of both samples, on
//! hypothesis input and on the hostile-event corpus): for each message this either writes
//! exactly the row `loanstream.sink.score_message` builds in Python, or *declines* it and the
//! Python path handles it. Python stays the definition: every dead letter and every error
//! message comes from it. Only the plain forms the loanstream producer writes are accepted
//! here: a flat JSON object whose values are strings, nulls, booleans or JSON numbers; the
//! fields scoring reads are printable ASCII text without escapes, null, or (in the typed
//! `loan_application` events, `plugins/loanstream/contract/`) JSON numbers without an exponent,
//! read as orjson reads them (an integer of up to 18 digits is a Python int, `float(int)` where
//! a float is read; a fraction is the correctly rounded double; negative zero is declined);
//! `event_time` is `YYYY-MM-DDTHH:MM:SS[.ffffff]` with `+00:00` or `Z`. Untyped events (every
//! value text) and typed ones are read alike, field by field. A framed value (Confluent's wire
//! format, `framing`) is read after its 5-byte header when Python has accepted its schema id
//! (`BatchScorer.accept_schema_ids`), and declined otherwise. Anything else is declined, never
//! guessed.
//!
//! The rule set comes from Python (`loanstream.native`), already parsed and validated from
//! include/rules/risk_rules.yaml; a rule set with anything this evaluator does not model
//! exactly as Python does is refused at construction, and Python scores everything. So do
//! every bound, cap and table parsing uses (`loanstream.scoring.limits.Limits`): none is a
//! literal here, and a limit this code does not know is refused at construction.

mod batch;
mod dates;
mod features;
mod fields;
mod framing;
mod inline;
mod json;
mod limits;
mod message;
mod output;
mod rules;
#[cfg(test)]
mod typed_tests;

pub(crate) use batch::BatchScorer;
