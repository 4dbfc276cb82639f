//! The Python API: `CsvEvents`, the producer's CSV reader.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use super::json::json_escaped;
use super::scanner::{Scanner, Stop};
use super::typed::{Kind, Typed, TypedField};

/// The producer's CSV reader: reads a file's records and encodes each into its event (the
/// id as the key, the body `loanstream.events._to_json_body` writes, its row), exactly as
/// `csv.reader` plus the Python encoder do, or leaves the record to Python. Python reads the
/// preamble, the header and every record this leaves through `next_line()`, the same cursor,
/// so the row and line counts stay those of `csv.reader` (quoted line breaks included). The
/// GIL is released while the file is read and parsed and the bodies are written.
#[pyclass(module = "loanstream._scoring_and_encoding")]
pub(crate) struct CsvEvents {
    pub(crate) scan: Scanner,
}

#[pymethods]
impl CsvEvents {
    /// A reader of the open file `fd` (the Python side opened and checked it; the reader
    /// reads a duplicate of it from offset 0 with a cursor of its own, never a path), whose
    /// physical lines are at most `max_line` bytes (`LOANSTREAM_MAX_LINE_BYTES`, terminator
    /// included): a longer line is left to Python, and `next_line` hands over no more than
    /// its first `max_line + 1` bytes, for Python to refuse.
    #[new]
    fn new(fd: i32, max_line: usize) -> PyResult<Self> {
        use std::os::fd::BorrowedFd;
        if fd < 0 || max_line == 0 {
            return Err(PyValueError::new_err(
                "a file descriptor and a line limit are needed",
            ));
        }
        // SAFETY: borrowed only to duplicate it; a closed or invalid fd fails with EBADF
        let owned = unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned()?;
        let mut scan = Scanner::new(std::fs::File::from(owned));
        scan.max_line = max_line;
        Ok(CsvEvents { scan })
    }

    /// The physical lines consumed so far (`csv.reader`'s `line_num` over all of them).
    #[getter]
    fn line(&self) -> u64 {
        self.scan.line
    }

    /// The next physical line (bytes, terminator included), or None at the end of the file.
    fn next_line<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        Ok(self
            .scan
            .next_line()?
            .map(|(a, b)| PyBytes::new(py, &self.scan.buf[a..b])))
    }

    /// The event's columns: `names` (no repeats), taken from the record's fields `keep`, of a
    /// record of `width` fields whose id is field `key_index`. Records of `field_limit` bytes
    /// or more (`csv.field_size_limit()`) are left to Python, which may refuse them.
    fn columns(
        &mut self,
        names: Vec<String>,
        keep: Vec<usize>,
        width: usize,
        key_index: usize,
        field_limit: usize,
    ) -> PyResult<()> {
        if names.is_empty() || names.len() != keep.len() || key_index >= width {
            return Err(PyValueError::new_err("columns do not fit the header"));
        }
        if keep.iter().any(|&i| i >= width) {
            return Err(PyValueError::new_err("a kept column is outside the header"));
        }
        let mut seen = std::collections::HashSet::new();
        let mut keys = Vec::with_capacity(names.len());
        for name in &names {
            if !seen.insert(name.as_str()) {
                return Err(PyValueError::new_err(format!("column {name} is repeated")));
            }
            let mut key = Vec::with_capacity(name.len() + 3);
            key.push(b'"');
            json_escaped(&mut key, name.as_bytes());
            key.extend_from_slice(b"\":");
            keys.push(key);
        }
        let scan = &mut self.scan;
        (scan.keys, scan.keep, scan.width, scan.key_index) = (keys, keep, width, key_index);
        scan.max_record = field_limit;
        Ok(())
    }

    /// Typed bodies (`loanstream.produce.typed`) from now on: `fields` are the contract's, in
    /// order, each (name, kind, percent unit?, nullable, record position or None); `year` the
    /// reference year; `dropped` the (name, record position) of the columns left out, whose
    /// non-empty cells `read` counts into the batch's `dropped`; `modelled`: whether the
    /// scorer's limits on forms are the defaults `typed.rs` models (else every record is
    /// Python's). Call after `columns`.
    fn typed_columns(
        &mut self,
        fields: Vec<(String, String, bool, bool, Option<usize>)>,
        year: i64,
        dropped: Vec<(String, usize)>,
        modelled: bool,
    ) -> PyResult<()> {
        let width = self.scan.width;
        if self.scan.keys.is_empty() {
            return Err(PyValueError::new_err("columns() first"));
        }
        let mut typed = Vec::with_capacity(fields.len());
        for (name, kind, percent, nullable, position) in fields {
            let Some(kind) = Kind::of(&kind, percent) else {
                return Err(PyValueError::new_err(format!(
                    "{name}: unknown kind {kind}"
                )));
            };
            if position.is_some_and(|i| i >= width) || (kind == Kind::Id) != (name == "id") {
                return Err(PyValueError::new_err(format!(
                    "{name} does not fit the header"
                )));
            }
            let mut key = Vec::with_capacity(name.len() + 3);
            key.push(b'"');
            json_escaped(&mut key, name.as_bytes());
            key.extend_from_slice(b"\":");
            let issue = name == "issue_d";
            typed.push(TypedField {
                key,
                kind,
                nullable,
                position,
                issue,
            });
        }
        if dropped.iter().any(|(_, i)| *i >= width) {
            return Err(PyValueError::new_err(
                "a dropped column is outside the header",
            ));
        }
        let counts = vec![0; dropped.len()];
        self.scan.typed = Some(Typed {
            fields: typed,
            year,
            dropped,
            counts,
            modelled,
        });
        Ok(())
    }

    /// Read events after row `row` (rows up to `skip` are passed over) until `limit` are
    /// appended to `batch` (an `EventBatch`: `keys` str, `bodies` bytes, `rows` int), or the
    /// next record is Python's to read (`next_line`), or the file ends. Returns (the last row
    /// consumed, whether `limit` was reached).
    fn read(
        &mut self,
        py: Python<'_>,
        batch: &Bound<'_, PyAny>,
        row: u64,
        skip: u64,
        limit: usize,
    ) -> PyResult<(u64, bool)> {
        let list = |name: &str| -> PyResult<Bound<'_, PyList>> {
            Ok(batch.getattr(name)?.downcast_into::<PyList>()?)
        };
        let (keys, bodies, rows) = (list("keys")?, list("bodies")?, list("rows")?);
        if self.scan.keys.is_empty() {
            return Err(PyValueError::new_err("columns() first"));
        }
        let scan = &mut self.scan;
        let (row, stop) = py.allow_threads(|| scan.scan(row, skip, limit))?;
        let (mut id_start, mut body_start) = (0, 0);
        for ((&id_end, &body_end), &r) in scan.id_ends.iter().zip(&scan.body_ends).zip(&scan.rows) {
            // ids are ASCII digits (checked in `encode`)
            let id = unsafe { std::str::from_utf8_unchecked(&scan.ids[id_start..id_end]) };
            keys.append(PyString::new(py, id))?;
            bodies.append(PyBytes::new(py, &scan.bodies[body_start..body_end]))?;
            rows.append(r)?;
            (id_start, body_start) = (id_end, body_end);
        }
        if let Some(typed) = &scan.typed {
            let counts = batch.getattr("dropped")?.downcast_into::<PyDict>()?;
            for ((name, _), &n) in typed.dropped.iter().zip(&typed.counts) {
                if n > 0 {
                    let before: u64 = match counts.get_item(name)? {
                        Some(v) => v.extract()?,
                        None => 0,
                    };
                    counts.set_item(name, before + n)?;
                }
            }
        }
        Ok((row, matches!(stop, Stop::Full)))
    }
}
