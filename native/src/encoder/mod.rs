//! The producer's side: CSV records -> event bodies (`loanstream.events._to_json_body`, or
//! the typed bodies of `loanstream.produce.typed`: `typed`), `CsvEvents`.

mod events;
mod json;
mod record;
mod scanner;
mod typed;

pub(crate) use events::CsvEvents;
pub(crate) use scanner::READ_BYTES;
