//! loanstream's hot paths, compiled. `BatchScorer`: the sink's Kafka message -> event fields ->
//! features -> rules -> one CSV line for `COPY risk_scored`. `CsvEvents` (at the end): the
//! producer's CSV file -> events (key, JSON body).

use memchr::memchr2;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};

mod scorer;

use scorer::BatchScorer;

// --------------------------------------------------------------------------------------------
// The producer's side: CSV records -> event bodies (`loanstream.events._to_json_body`)
// --------------------------------------------------------------------------------------------

/// `s` as orjson writes a string's content: `"` and `\\` escaped, the controls below 0x20 as
/// `\b \t \n \f \r` or `\u00xx` (lower-case hex), everything else (DEL, non-ASCII UTF-8)
/// as it is.
#[inline]
fn json_escaped(out: &mut Vec<u8>, s: &[u8]) {
    // most cells need no escape: checked 64 bytes at a time (vectorises, unlike a search)
    let clean = s.chunks(64).all(|chunk| {
        chunk.iter().fold(0u8, |acc, &c| {
            acc | u8::from(c < 0x20) | u8::from(c == b'"') | u8::from(c == b'\\')
        }) == 0
    });
    if clean {
        out.extend_from_slice(s);
        return;
    }
    let mut start = 0;
    for (i, &c) in s.iter().enumerate() {
        if c >= 0x20 && c != b'"' && c != b'\\' {
            continue;
        }
        out.extend_from_slice(&s[start..i]);
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(c >> 4) as usize]);
                out.push(HEX[(c & 15) as usize]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
}

/// Bytes read from the file at a time.
const READ_BYTES: usize = 1 << 20;

/// Why a scan stopped.
enum Stop {
    /// `limit` events encoded
    Full,
    /// the next record is Python's to read (`CsvEvents.next_line`), or the file ended
    Python,
}

/// The file, its unread bytes and the columns of an event.
struct Scanner {
    file: std::fs::File,
    buf: Vec<u8>,
    start: usize, // first unread byte
    end: usize,   // end of the bytes read
    eof: bool,
    line: u64, // physical lines consumed (as csv.reader's line_num counts them)
    core: csv_core::Reader,
    fields: Vec<u8>,
    ends: Vec<usize>,
    nfields: usize,     // of the record parsed last
    gap: usize,         // bytes between its fields in `fields` (1: a comma)
    keys: Vec<Vec<u8>>, // `"name":` of each kept column, JSON-escaped
    keep: Vec<usize>,   // the record's field behind each key
    width: usize,
    key_index: usize,
    max_record: usize, // longer records are Python's (csv.field_size_limit: its error)
    // one scan's output, handed to Python afterwards
    bodies: Vec<u8>,
    body_ends: Vec<usize>,
    ids: Vec<u8>,
    id_ends: Vec<usize>,
    rows: Vec<u64>,
}

/// Where a line ends, `\r\n`, `\r` or `\n` as Python's universal newlines split them
/// (`data[i]` is the line break), or None when the byte after a `\r` is not read yet.
#[inline]
fn line_end(data: &[u8], i: usize, eof: bool) -> Option<usize> {
    if data[i] == b'\n' {
        Some(i + 1)
    } else if i + 1 < data.len() {
        Some(if data[i + 1] == b'\n' { i + 2 } else { i + 1 })
    } else if eof {
        Some(i + 1)
    } else {
        None
    }
}

/// Line breaks inside a quoted field (`\r\n` counts once).
fn breaks(s: &[u8]) -> u64 {
    let mut n = 0;
    for (i, &c) in s.iter().enumerate() {
        n += u64::from(c == b'\n' || (c == b'\r' && s.get(i + 1) != Some(&b'\n')));
    }
    n
}

/// The verdict on the record at the start of `raw` that csv-core parsed into `fields`/`ends`.
enum Checked {
    /// Python's `csv.reader` reads exactly these fields from `raw[..len]` (terminator
    /// included), over `lines` physical lines
    Same { len: usize, lines: u64 },
    /// possibly not: Python reads this record
    Unsure,
    /// a `\r` ends the bytes read: read more first
    NeedMore,
}

/// Whether `raw` starts with the fields written in their unambiguous form: a field with no
/// quote, comma or line break as it is, or quoted with inner quotes doubled, comma-separated,
/// followed by a line break or the end of the file. Both parsers read such a record alike;
/// anything else (a stray quote, text after a closing quote, NUL, invalid UTF-8, a huge
/// field) is left to Python.
fn check_record(raw: &[u8], fields: &[u8], ends: &[usize], eof: bool) -> Checked {
    let mut p = 0;
    let mut lines = 1;
    let mut begin = 0;
    for (n, &end) in ends.iter().enumerate() {
        let field = &fields[begin..end];
        begin = end;
        if n > 0 {
            if raw.get(p) != Some(&b',') {
                return Checked::Unsure;
            }
            p += 1;
        }
        if raw.get(p) == Some(&b'"') {
            p += 1;
            for part in field.split(|&c| c == b'"').enumerate() {
                let (i, part) = part;
                if i > 0 {
                    if raw.get(p..p + 2) != Some(b"\"\"") {
                        return Checked::Unsure;
                    }
                    p += 2;
                }
                if raw.get(p..p + part.len()) != Some(part) {
                    return Checked::Unsure;
                }
                p += part.len();
            }
            if raw.get(p) != Some(&b'"') {
                return Checked::Unsure;
            }
            p += 1;
            lines += breaks(field);
        } else {
            if memchr::memchr3(b'"', b'\r', b'\n', field).is_some()
                || raw.get(p..p + field.len()) != Some(field)
            {
                return Checked::Unsure;
            }
            p += field.len();
        }
    }
    let len = match raw.get(p) {
        None if eof => p,
        None => return Checked::NeedMore,
        Some(b'\r' | b'\n') => match line_end(raw, p, eof) {
            Some(len) => len,
            None => return Checked::NeedMore,
        },
        Some(_) => return Checked::Unsure,
    };
    if memchr::memchr(0, &raw[..len]).is_some() || std::str::from_utf8(&raw[..len]).is_err() {
        return Checked::Unsure;
    }
    Checked::Same { len, lines }
}

impl Scanner {
    /// Read more of the file, keeping the unread bytes.
    fn refill(&mut self) -> std::io::Result<()> {
        use std::io::Read;
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < READ_BYTES / 2 {
            self.buf.resize(self.end + READ_BYTES, 0);
        }
        let n = self.file.read(&mut self.buf[self.end..])?;
        self.eof = n == 0;
        self.end += n;
        Ok(())
    }

    /// The next physical line (terminator included), or None at the end of the file.
    fn next_line(&mut self) -> std::io::Result<Option<(usize, usize)>> {
        loop {
            let data = &self.buf[self.start..self.end];
            let len = match memchr2(b'\r', b'\n', data) {
                Some(i) => line_end(data, i, self.eof),
                None if self.eof => (!data.is_empty()).then_some(data.len()),
                None => None,
            };
            match len {
                Some(len) => {
                    let span = (self.start, self.start + len);
                    self.start += len;
                    self.line += 1;
                    return Ok(Some(span));
                }
                None if self.eof => return Ok(None),
                None => self.refill()?,
            }
        }
    }

    /// Parse the record at `start` (not consumed): its length and lines if Python's reader
    /// reads exactly its fields, else None (a blank line too: Python's, as all the rare shapes).
    fn record(&mut self) -> std::io::Result<Option<(usize, u64)>> {
        use csv_core::ReadRecordResult as R;
        'retry: loop {
            if self.start == self.end {
                if self.eof {
                    return Ok(None);
                }
                self.refill()?;
                continue;
            }
            let input = &self.buf[self.start..self.end];
            if input[0] == b'\r' || input[0] == b'\n' {
                return Ok(None);
            }
            // A line without a quote is its fields split at the commas, for both parsers.
            if let Some(i) = memchr2(b'\r', b'\n', input) {
                if memchr::memchr(b'"', &input[..i]).is_none() {
                    let Some(len) = line_end(input, i, self.eof) else {
                        self.refill()?;
                        continue;
                    };
                    let line = &input[..i];
                    if memchr::memchr(0, line).is_some() || std::str::from_utf8(line).is_err() {
                        return Ok(None);
                    }
                    self.fields.clear();
                    self.fields.extend_from_slice(line);
                    self.ends.clear();
                    self.ends.extend(memchr::memchr_iter(b',', line));
                    self.ends.push(line.len());
                    self.nfields = self.ends.len();
                    self.gap = 1; // the commas stay between the fields
                    return Ok((len < self.max_record).then_some((len, 1)));
                }
            }
            if self.fields.len() < input.len().min(1 << 16) {
                self.fields.resize(1 << 16, 0);
            }
            if self.ends.len() < 256 {
                self.ends.resize(256, 0);
            }
            self.core.reset();
            let (mut nin, mut nout, mut nend) = (0, 0, 0);
            loop {
                let (res, i, o, e) = self.core.read_record(
                    &input[nin..],
                    &mut self.fields[nout..],
                    &mut self.ends[nend..],
                );
                nin += i;
                nout += o;
                nend += e;
                match res {
                    R::Record => break,
                    R::End => return Ok(None),
                    R::OutputFull => self.fields.resize(self.fields.len() * 2, 0),
                    R::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                    R::InputEmpty if self.eof && nin == input.len() => {
                        // the last record has no line break: an empty input ends it
                        let (res, _, _, e) = self.core.read_record(
                            &[],
                            &mut self.fields[nout..],
                            &mut self.ends[nend..],
                        );
                        nend += e;
                        if !matches!(res, R::Record) {
                            return Ok(None);
                        }
                        break;
                    }
                    R::InputEmpty => {
                        if input.len() >= self.max_record {
                            return Ok(None);
                        }
                        self.refill()?;
                        continue 'retry;
                    }
                }
            }
            self.nfields = nend;
            self.gap = 0;
            match check_record(input, &self.fields, &self.ends[..nend], self.eof) {
                Checked::Same { len, lines } => {
                    return Ok((len < self.max_record).then_some((len, lines)))
                }
                Checked::Unsure => return Ok(None),
                Checked::NeedMore => self.refill()?,
            }
        }
    }

    /// Encode records into events until `limit` events, or a record Python must read: one
    /// with another field count, an id that is not plain digits, any shape `record` leaves to
    /// Python, or the end of the file. Records up to row `skip` are counted, not encoded.
    /// Returns the last row consumed and why it stopped.
    fn scan(&mut self, mut row: u64, skip: u64, limit: usize) -> std::io::Result<(u64, Stop)> {
        self.bodies.clear();
        self.body_ends.clear();
        self.ids.clear();
        self.id_ends.clear();
        self.rows.clear();
        while self.rows.len() < limit {
            let Some((len, lines)) = self.record()? else {
                return Ok((row, Stop::Python));
            };
            if row >= skip {
                if !self.encode() {
                    return Ok((row, Stop::Python));
                }
                self.rows.push(row + 1);
            }
            row += 1;
            self.start += len;
            self.line += lines;
        }
        Ok((row, Stop::Full))
    }

    /// The parsed record as an event (id and body), or false: Python's to judge.
    fn encode(&mut self) -> bool {
        if self.nfields != self.width {
            return false;
        }
        let (fields, ends) = (&self.fields, &self.ends[..self.nfields]);
        let gap = self.gap;
        let field = |i: usize| &fields[if i == 0 { 0 } else { ends[i - 1] + gap }..ends[i]];
        let id = field(self.key_index);
        if id.is_empty() || !id.iter().all(u8::is_ascii_digit) {
            return false; // Python strips it, or skips or rejects the record
        }
        self.ids.extend_from_slice(id);
        self.id_ends.push(self.ids.len());
        let out = &mut self.bodies;
        out.push(b'{');
        for (k, (key, &i)) in self.keys.iter().zip(&self.keep).enumerate() {
            if k > 0 {
                out.push(b',');
            }
            out.extend_from_slice(key);
            let value = field(i);
            if value.is_empty() {
                out.extend_from_slice(b"null");
            } else {
                out.push(b'"');
                json_escaped(out, value);
                out.push(b'"');
            }
        }
        self.body_ends.push(out.len());
        true
    }
}

/// The producer's CSV reader: reads a file's records and encodes each into its event (the
/// id as the key, the body `loanstream.events._to_json_body` writes, its row), exactly as
/// `csv.reader` plus the Python encoder do, or leaves the record to Python. Python reads the
/// preamble, the header and every record this leaves through `next_line()`, the same cursor,
/// so the row and line counts stay those of `csv.reader` (quoted line breaks included). The
/// GIL is released while the file is read and parsed and the bodies are written.
#[pyclass(module = "loanstream._scoring_native")]
struct CsvEvents {
    scan: Scanner,
}

#[pymethods]
impl CsvEvents {
    #[new]
    fn new(path: std::path::PathBuf) -> PyResult<Self> {
        let file = std::fs::File::open(path)?;
        Ok(CsvEvents {
            scan: Scanner {
                file,
                buf: Vec::new(),
                start: 0,
                end: 0,
                eof: false,
                line: 0,
                core: csv_core::Reader::new(),
                fields: vec![0; 1 << 16],
                ends: vec![0; 256],
                nfields: 0,
                gap: 0,
                keys: Vec::new(),
                keep: Vec::new(),
                width: 0,
                key_index: 0,
                max_record: 0,
                bodies: Vec::new(),
                body_ends: Vec::new(),
                ids: Vec::new(),
                id_ends: Vec::new(),
                rows: Vec::new(),
            },
        })
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
        Ok((row, matches!(stop, Stop::Full)))
    }
}

#[pymodule]
fn _scoring_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<BatchScorer>()?;
    m.add_class::<CsvEvents>()?;
    m.add("READ_BYTES", READ_BYTES)?;
    Ok(())
}
