//! The producer's side: CSV records -> event bodies (`loanstream.events._to_json_body`),
//! `CsvEvents`.

mod events;
mod json;
mod record;
mod scanner;

pub(crate) use events::CsvEvents;
pub(crate) use scanner::READ_BYTES;
