//! What a row needs from a Kafka message (`confluent_kafka.Message`) besides its value.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

/// What a row needs from a message besides its value.
pub(crate) struct Meta {
    pub(crate) topic: String,
    pub(crate) partition: i64,
    pub(crate) offset: i64,
    pub(crate) run_id: Option<String>,
}

/// (value, meta) of a message, or None to decline it (no bytes value, odd topic or headers).
pub(crate) fn read_meta<'py>(
    msg: &Bound<'py, PyAny>,
) -> PyResult<Option<(Bound<'py, PyBytes>, Meta)>> {
    let py = msg.py();
    let value = msg.call_method0(pyo3::intern!(py, "value"))?;
    let Ok(value) = value.downcast_into::<PyBytes>() else {
        return Ok(None);
    };
    let Some(run_id) = run_id_header(msg)? else {
        return Ok(None);
    };
    let topic = msg.call_method0(pyo3::intern!(py, "topic"))?;
    let Ok(topic) = topic.downcast::<PyString>() else {
        return Ok(None);
    };
    let topic = topic.to_str()?;
    if !topic.bytes().all(|c| (0x20..0x7f).contains(&c)) {
        return Ok(None);
    }
    let partition: i64 = msg
        .call_method0(pyo3::intern!(py, "partition"))?
        .extract()?;
    let offset: i64 = msg.call_method0(pyo3::intern!(py, "offset"))?.extract()?;
    Ok(Some((
        value,
        Meta {
            topic: topic.to_owned(),
            partition,
            offset,
            run_id,
        },
    )))
}

/// The first `run_id` header with a value, as `_header` reads it: Ok(None) declines (text
/// `_kafka_text` would change, or not a list of pairs); Ok(Some(None)) no such header.
pub(crate) fn run_id_header(msg: &Bound<'_, PyAny>) -> PyResult<Option<Option<String>>> {
    let headers = msg.call_method0(pyo3::intern!(msg.py(), "headers"))?;
    if headers.is_none() {
        return Ok(Some(None));
    }
    let Ok(headers) = headers.downcast::<PyList>() else {
        return Ok(None);
    };
    for pair in headers.iter() {
        let Ok(pair) = pair.downcast::<PyTuple>() else {
            return Ok(None);
        };
        if pair.len() != 2 {
            return Ok(None);
        }
        let key = pair.get_item(0)?;
        let Ok(key) = key.downcast::<PyString>() else {
            return Ok(None);
        };
        if key.to_str()? != "run_id" {
            continue;
        }
        let value = pair.get_item(1)?;
        if value.is_none() {
            continue;
        }
        let Ok(value) = value.downcast::<PyBytes>() else {
            return Ok(None);
        };
        let bytes = value.as_bytes();
        if !bytes.iter().all(|c| (0x20..0x7f).contains(c)) {
            return Ok(None);
        }
        return Ok(Some(Some(String::from_utf8_lossy(bytes).into_owned())));
    }
    Ok(Some(None))
}
