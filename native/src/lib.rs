//! loanstream's hot paths, compiled. `BatchScorer` (`scorer`): the sink's Kafka message ->
//! event fields -> features -> rules -> one CSV line for `COPY risk_scored`. `CsvEvents`
//! (`encoder`): the producer's CSV file -> events (key, JSON body).
//!
//! `scorer` and `encoder` share no code; each module tree is one of the two products.

use pyo3::prelude::*;

mod encoder;
mod scorer;

use encoder::{CsvEvents, READ_BYTES};
use scorer::BatchScorer;

#[pymodule]
fn _scoring_and_encoding(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<BatchScorer>()?;
    m.add_class::<CsvEvents>()?;
    m.add("READ_BYTES", READ_BYTES)?;
    Ok(())
}
