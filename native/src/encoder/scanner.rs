//! The file, its unread bytes and the columns of an event: reads records and encodes the
//! plain ones into event bodies, leaving the rest to Python.

use memchr::memchr2;

use super::json::json_escaped;
use super::record::{check_record, line_end, Checked};
use super::typed::Typed;

/// Bytes read from the file at a time.
pub(crate) const READ_BYTES: usize = 1 << 20;

/// Why a scan stopped.
pub(crate) enum Stop {
    /// `limit` events encoded
    Full,
    /// the next record is Python's to read (`CsvEvents.next_line`), or the file ended
    Python,
}

/// The file, its unread bytes and the columns of an event.
pub(crate) struct Scanner {
    pub(crate) file: std::fs::File, // read with pread from `pos`: its own cursor
    pub(crate) pos: u64,
    pub(crate) max_line: usize, // longest physical line (terminator included) it takes
    pub(crate) buf: Vec<u8>,
    pub(crate) start: usize, // first unread byte
    pub(crate) end: usize,   // end of the bytes read
    pub(crate) eof: bool,
    pub(crate) line: u64, // physical lines consumed (as csv.reader's line_num counts them)
    pub(crate) core: csv_core::Reader,
    pub(crate) fields: Vec<u8>,
    pub(crate) ends: Vec<usize>,
    pub(crate) nfields: usize,     // of the record parsed last
    pub(crate) gap: usize,         // bytes between its fields in `fields` (1: a comma)
    pub(crate) keys: Vec<Vec<u8>>, // `"name":` of each kept column, JSON-escaped
    pub(crate) keep: Vec<usize>,   // the record's field behind each key
    pub(crate) width: usize,
    pub(crate) key_index: usize,
    pub(crate) max_record: usize, // longer records are Python's (csv.field_size_limit: its error)
    pub(crate) typed: Option<Typed>, // typed bodies (`CsvEvents.typed_columns`), else untyped
    // one scan's output, handed to Python afterwards
    pub(crate) bodies: Vec<u8>,
    pub(crate) body_ends: Vec<usize>,
    pub(crate) ids: Vec<u8>,
    pub(crate) id_ends: Vec<usize>,
    pub(crate) rows: Vec<u64>,
}

impl Scanner {
    /// A scanner at the start of `file`, with no columns yet.
    pub(crate) fn new(file: std::fs::File) -> Self {
        Scanner {
            file,
            pos: 0,
            max_line: usize::MAX,
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
            typed: None,
            bodies: Vec::new(),
            body_ends: Vec::new(),
            ids: Vec::new(),
            id_ends: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// Read more of the file, keeping the unread bytes.
    fn refill(&mut self) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < READ_BYTES / 2 {
            self.buf.resize(self.end + READ_BYTES, 0);
        }
        let n = loop {
            match self.file.read_at(&mut self.buf[self.end..], self.pos) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        self.pos += n as u64;
        self.eof = n == 0;
        self.end += n;
        Ok(())
    }

    /// The next physical line (terminator included), or None at the end of the file. Of a
    /// line longer than `max_line` only the first `max_line + 1` bytes (Python refuses it).
    pub(crate) fn next_line(&mut self) -> std::io::Result<Option<(usize, usize)>> {
        loop {
            let data = &self.buf[self.start..self.end];
            let len = match memchr2(b'\r', b'\n', data) {
                Some(i) if i >= self.max_line => Some(self.max_line + 1),
                Some(i) => line_end(data, i, self.eof),
                None if data.len() > self.max_line => Some(self.max_line + 1),
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
                    if len > self.max_line
                        || memchr::memchr(0, line).is_some()
                        || std::str::from_utf8(line).is_err()
                    {
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
                        if input.len() >= self.max_record || input.len() > self.max_line {
                            return Ok(None); // Python's: it refuses an over-long line
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
                    let fits = len < self.max_record && len <= self.max_line;
                    return Ok(fits.then_some((len, lines)));
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
    pub(crate) fn scan(
        &mut self,
        mut row: u64,
        skip: u64,
        limit: usize,
    ) -> std::io::Result<(u64, Stop)> {
        self.bodies.clear();
        self.body_ends.clear();
        self.ids.clear();
        self.id_ends.clear();
        self.rows.clear();
        if let Some(typed) = &mut self.typed {
            typed.counts.iter_mut().for_each(|n| *n = 0);
        }
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
        if let Some(typed) = &mut self.typed {
            let mark = self.bodies.len();
            if !typed.encode(field, &mut self.bodies) {
                self.bodies.truncate(mark);
                return false; // Python types the record or rejects it
            }
            self.ids.extend_from_slice(id);
            self.id_ends.push(self.ids.len());
            self.body_ends.push(self.bodies.len());
            return true;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What a scan gave: (ids, bodies, rows), why it stopped, the last row consumed.
    type Scanned = (Vec<String>, Vec<String>, Vec<u64>, bool, u64);

    /// A scanner over a file holding `bytes`, its header read as Python reads it (one line).
    fn scanner(name: &str, bytes: &[u8]) -> Scanner {
        let path = std::env::temp_dir().join(format!(
            "loanstream-native-{}-{name}.csv",
            std::process::id()
        ));
        std::fs::write(&path, bytes).unwrap();
        let mut scan = Scanner::new(std::fs::File::open(&path).unwrap());
        std::fs::remove_file(&path).unwrap();
        let (a, b) = scan.next_line().unwrap().unwrap();
        let header = std::str::from_utf8(&scan.buf[a..b])
            .unwrap()
            .trim_end()
            .to_owned();
        let names: Vec<&str> = header.split(',').collect();
        scan.keys = names
            .iter()
            .map(|n| {
                let mut key = b"\"".to_vec();
                json_escaped(&mut key, n.as_bytes());
                key.extend_from_slice(b"\":");
                key
            })
            .collect();
        scan.keep = (0..names.len()).collect();
        scan.width = names.len();
        scan.key_index = names.iter().position(|&n| n == "id").unwrap();
        scan.max_record = 16 << 20;
        scan
    }

    fn scan(s: &mut Scanner, row: u64, skip: u64, limit: usize) -> Scanned {
        let (row, stop) = s.scan(row, skip, limit).unwrap();
        let split = |data: &[u8], ends: &[usize]| -> Vec<String> {
            let mut start = 0;
            ends.iter()
                .map(|&end| {
                    let text = String::from_utf8(data[start..end].to_vec()).unwrap();
                    start = end;
                    text
                })
                .collect()
        };
        let ids = split(&s.ids, &s.id_ends);
        let bodies = split(&s.bodies, &s.body_ends);
        (ids, bodies, s.rows.clone(), matches!(stop, Stop::Full), row)
    }

    fn all(name: &str, bytes: &[u8]) -> (Scanned, u64) {
        let mut s = scanner(name, bytes);
        let scanned = scan(&mut s, 0, 0, 1 << 20);
        (scanned, s.line)
    }

    #[test]
    fn plain_records_and_blank_cells() {
        let ((ids, bodies, rows, full, row), line) =
            all("plain", b"id,term,note\n1, 36 months,\n22,60,x\n");
        assert_eq!(ids, ["1", "22"]);
        assert_eq!(
            bodies,
            [
                r#"{"id":"1","term":" 36 months","note":null"#,
                r#"{"id":"22","term":"60","note":"x""#
            ]
        );
        assert_eq!((rows, full, row, line), (vec![1, 2], false, 2, 3));
    }

    #[test]
    fn quoted_fields_doubled_quotes_commas_and_line_breaks() {
        let file = b"id,desc,n\n1,\"a \"\"b\"\", c\",\"two\nlines\"\n2,\"\",\"cr\r\nlf\"\n";
        let ((ids, bodies, rows, _, _), line) = all("quoted", file);
        assert_eq!(ids, ["1", "2"]);
        assert_eq!(
            bodies[0],
            r#"{"id":"1","desc":"a \"b\", c","n":"two\nlines""#
        );
        assert_eq!(bodies[1], r#"{"id":"2","desc":null,"n":"cr\r\nlf""#); // "" is blank
        assert_eq!(rows, [1, 2]); // rows count records
        assert_eq!(line, 5); // lines count lines, \r\n once
    }

    #[test]
    fn crlf_and_cr_line_ends() {
        for (name, file) in [
            ("crlf", &b"id,x\r\n1,a\r\n2,b\r\n"[..]),
            ("cr", b"id,x\r1,a\r2,b\r"),
        ] {
            let ((ids, bodies, ..), line) = all(name, file);
            assert_eq!(ids, ["1", "2"], "{name}");
            assert_eq!(bodies[1], r#"{"id":"2","x":"b""#, "{name}");
            assert_eq!(line, 3, "{name}");
        }
    }

    #[test]
    fn blank_lines_are_python_s_then_scanning_goes_on() {
        let mut s = scanner("blank", b"id,x\n1,a\n\n2,b\n");
        let (ids, _, rows, full, row) = scan(&mut s, 0, 0, 10);
        assert_eq!(
            (ids, rows, full, row),
            (vec!["1".to_owned()], vec![1], false, 1)
        );
        let (a, b) = s.next_line().unwrap().unwrap(); // Python reads the blank line
        assert_eq!(&s.buf[a..b], b"\n");
        let (ids, _, rows, _, row) = scan(&mut s, 1, 0, 10);
        assert_eq!(
            (ids, rows, row, s.line),
            (vec!["2".to_owned()], vec![2], 2, 4)
        );
    }

    #[test]
    fn records_left_to_python() {
        for (name, record) in [
            ("ragged-long", &b"1,a,extra\n"[..]),
            ("ragged-short", b"1\n"),
            ("not-utf8", b"1,\xff\n"),
            ("nul", b"1,a\x00\n"),
            ("id-space", b" 1,a\n"),
            ("id-letters", b"A1,a\n"),
            ("id-blank", b",a\n"),
            ("stray-quote", b"1,a\"b\n"),
            ("after-quote", b"1,\"a\"b\n"),
            ("unclosed", b"1,\"a\n"),
        ] {
            let file = [&b"id,x\n"[..], record, b"2,b\n"].concat();
            let mut s = scanner(name, &file);
            let (ids, _, _, full, row) = scan(&mut s, 0, 0, 10);
            assert!(ids.is_empty() && !full && row == 0, "{name}");
            assert_eq!(s.line, 1, "{name}: nothing consumed");
        }
    }

    #[test]
    fn end_of_file_without_a_line_break() {
        for (name, file) in [
            ("eof-plain", &b"id,x\n1,a\n2,b"[..]),
            ("eof-quoted", b"id,x\n1,a\n2,\"b\""),
        ] {
            let ((ids, bodies, ..), line) = all(name, file);
            assert_eq!(ids, ["1", "2"], "{name}");
            assert_eq!(bodies[1], r#"{"id":"2","x":"b""#, "{name}");
            assert_eq!(line, 3, "{name}");
        }
    }

    #[test]
    fn skip_limit_and_record_size_limit() {
        let mut s = scanner("skip", b"id,x\n1,a\n2,b\n3,c\n4,d\n");
        let (ids, _, rows, full, row) = scan(&mut s, 0, 1, 2); // row 1 passed over
        assert_eq!(
            (ids, rows, full, row),
            (vec!["2".to_owned(), "3".to_owned()], vec![2, 3], true, 3)
        );
        let mut s = scanner("big", b"id,x\n1,abcdefghij\n");
        s.max_record = 10; // csv.field_size_limit: the record is Python's
        assert!(scan(&mut s, 0, 0, 10).0.is_empty());
    }

    #[test]
    fn over_long_lines_are_python_s_and_handed_over_bounded() {
        let mut s = scanner("long", b"id,x\n1,a\n2,bbbbbbbbbbbb\n3,c\n");
        s.max_line = 8; // "2,bbbbbbbbbbbb\n" is 15 bytes
        let (ids, _, rows, full, row) = scan(&mut s, 0, 0, 10);
        assert_eq!(
            (ids, rows, full, row),
            (vec!["1".to_owned()], vec![1], false, 1)
        );
        let (a, b) = s.next_line().unwrap().unwrap();
        assert_eq!(&s.buf[a..b], b"2,bbbbbbb"); // max_line + 1 bytes: Python refuses it
        assert_eq!(s.line, 3);
        let mut s = scanner("long-eof", b"id,x\n1,aaaaaaaaaaaaaaaaaaaa");
        s.max_line = 8;
        assert!(scan(&mut s, 0, 0, 10).0.is_empty());
        let (a, b) = s.next_line().unwrap().unwrap();
        assert_eq!(b - a, 9);
    }

    #[test]
    fn records_across_read_buffers() {
        // a line break, a doubled quote and a quoted CRLF each split by the first read's end
        for (name, marker) in [
            ("split-crlf", &b"\r\n"[..]),
            ("split-quote", b"\"\""),
            ("split-qcrlf", b"\r\n"),
        ] {
            let quoted = name != "split-crlf";
            let head = b"id,x\n1,".to_vec();
            let open = usize::from(quoted);
            // the marker's first byte is the last byte of the first read
            let pad = READ_BYTES - 1 - head.len() - open;
            let mut file = head;
            if quoted {
                file.push(b'"');
            }
            file.extend(std::iter::repeat_n(b'p', pad));
            file.extend_from_slice(marker);
            if quoted {
                file.extend_from_slice(b"q\"\n");
            }
            assert_eq!(file[READ_BYTES - 1], marker[0], "{name}");
            file.extend_from_slice(b"2,b\n");
            let ((ids, bodies, rows, ..), line) = all(name, &file);
            assert_eq!(ids, ["1", "2"], "{name}");
            assert_eq!(rows, [1, 2], "{name}");
            let want = match name {
                "split-crlf" => String::new(),
                "split-quote" => "\\\"q".to_owned(),
                _ => "\\r\\nq".to_owned(),
            };
            assert!(bodies[0].ends_with(&format!("p{want}\"")), "{name}");
            assert_eq!(
                bodies[0].len(),
                r#"{"id":"1","x":""#.len() + pad + want.len() + 1,
                "{name}"
            );
            assert_eq!(line, if name == "split-qcrlf" { 4 } else { 3 }, "{name}");
        }
    }
}
