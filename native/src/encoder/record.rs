//! One CSV record as both parsers read it: where lines end, and whether Python's `csv.reader`
//! reads exactly the fields csv-core parsed.

/// Where a line ends, `\r\n`, `\r` or `\n` as Python's universal newlines split them
/// (`data[i]` is the line break), or None when the byte after a `\r` is not read yet.
#[inline]
pub(crate) fn line_end(data: &[u8], i: usize, eof: bool) -> Option<usize> {
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
pub(crate) fn breaks(s: &[u8]) -> u64 {
    let mut n = 0;
    for (i, &c) in s.iter().enumerate() {
        n += u64::from(c == b'\n' || (c == b'\r' && s.get(i + 1) != Some(&b'\n')));
    }
    n
}

/// The verdict on the record at the start of `raw` that csv-core parsed into `fields`/`ends`.
pub(crate) enum Checked {
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
pub(crate) fn check_record(raw: &[u8], fields: &[u8], ends: &[usize], eof: bool) -> Checked {
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
