//! Typed event bodies (`loanstream.produce.typed`): a record's cells as the `loan_application`
//! fields, written exactly as `orjson.dumps(Layout.of(header).typed(values, year))[:-1]`, for
//! the forms `loanstream.scoring.forms` reads that are modelled here: plain decimals ("11.53",
//! "11.53%" in a percent field), whole numbers ("1.0"), terms (" 36 months"), employment
//! lengths ("10+ years", "< 1 year", "n/a"), months ("Aug-1998", "Aug-98", "1998-08",
//! "1998-08-01"), text trimmed as `str.strip()` trims ASCII. Anything else (an exponent, a
//! non-ASCII character at a cell's edge, a tab inside a term, a blank required field, any
//! text that is not one of these forms) is declined: Python types the record or rejects it.

use super::json::json_escaped;

/// How a field's cell becomes its JSON value (`loanstream.contract.fields.Kind`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Kind {
    Id,
    Number { percent: bool },
    Integer,
    Term,
    Years,
    Month,
    Text, // category and text
}

impl Kind {
    /// The kind named `name` (`percent`: the field's unit is percent), or None.
    pub(crate) fn of(name: &str, percent: bool) -> Option<Kind> {
        Some(match name {
            "id" => Kind::Id,
            "number" => Kind::Number { percent },
            "integer" => Kind::Integer,
            "term_months" => Kind::Term,
            "years" => Kind::Years,
            "month" => Kind::Month,
            "category" | "text" => Kind::Text,
            _ => return None,
        })
    }
}

/// One contract field: its `"name":` (JSON-escaped), kind, nullability, record position.
pub(crate) struct TypedField {
    pub(crate) key: Vec<u8>,
    pub(crate) kind: Kind,
    pub(crate) nullable: bool,
    pub(crate) position: Option<usize>,
    pub(crate) issue: bool, // `issue_d`: read against the reference year, the others against it
}

/// The contract's fields in order, the reference year and the dropped columns' counts.
pub(crate) struct Typed {
    pub(crate) fields: Vec<TypedField>,
    pub(crate) year: i64,
    pub(crate) dropped: Vec<(String, usize)>, // (name, record position)
    pub(crate) counts: Vec<u64>,              // per dropped column, this scan's events with a cell
}

/// Python's `str.isspace()` among ASCII bytes.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t'..=b'\r' | 0x1c..=0x1f)
}

/// A cell after `str.strip()`.
enum Cell<'a> {
    Blank,
    Text(&'a [u8]),
    Decline, // a non-ASCII byte at an edge: possibly Unicode whitespace
}

fn strip(s: &[u8]) -> Cell<'_> {
    let Some(a) = s.iter().position(|&c| !is_space(c)) else {
        return Cell::Blank;
    };
    let b = s.iter().rposition(|&c| !is_space(c)).unwrap_or(a);
    let t = &s[a..=b];
    if t[0] >= 0x80 || t[t.len() - 1] >= 0x80 {
        Cell::Decline
    } else {
        Cell::Text(t)
    }
}

/// `[+-]?(digits[.digits?]|.digits)` (no exponent): (negative, whole digits, fraction digits).
fn decimal(t: &[u8]) -> Option<(bool, &[u8], &[u8])> {
    let (negative, rest) = match t.first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let whole_len = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    let (whole, after) = rest.split_at(whole_len);
    let fraction = match after.split_first() {
        None => &after[..0],
        Some((b'.', f)) if f.iter().all(u8::is_ascii_digit) => f,
        _ => return None,
    };
    (!whole.is_empty() || !fraction.is_empty()).then_some((negative, whole, fraction))
}

/// `f` as orjson writes a float: ryu's shortest digits, `e+` for a positive exponent.
pub(crate) fn write_float(out: &mut Vec<u8>, f: f64) {
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(f).as_bytes();
    match text.iter().position(|&c| c == b'e') {
        Some(e) if text.get(e + 1) != Some(&b'-') => {
            out.extend_from_slice(&text[..=e]);
            out.push(b'+');
            out.extend_from_slice(&text[e + 1..]);
        }
        _ => out.extend_from_slice(text),
    }
}

/// `forms.number_value`: a plain decimal ("11.53%" in a percent field) as a float.
fn number(out: &mut Vec<u8>, t: &[u8], percent: bool) -> bool {
    if t.len() > 64 {
        return false;
    }
    let mut t = t;
    if percent && t.last() == Some(&b'%') {
        t = &t[..t.len() - 1];
        while t.last().is_some_and(|&c| is_space(c)) {
            t = &t[..t.len() - 1];
        }
    }
    if decimal(t).is_none() {
        return false;
    }
    // the form is ASCII; Rust's parse is correctly rounded, as Python's float() is
    let Ok(f) = std::str::from_utf8(t).unwrap_or("x").parse::<f64>() else {
        return false;
    };
    if !f.is_finite() {
        return false;
    }
    write_float(out, f);
    true
}

/// Up to 15 digits (exact as a float) as a number, leading zeros aside.
fn digits_value(d: &[u8]) -> Option<i64> {
    let d = &d[d.iter().take_while(|&&c| c == b'0').count()..];
    if d.len() > 15 {
        return None;
    }
    Some(d.iter().fold(0i64, |n, &c| n * 10 + i64::from(c - b'0')))
}

/// `forms.whole_value`: "12", "1.0", "-3" as an integer.
fn integer(out: &mut Vec<u8>, t: &[u8]) -> bool {
    if t.len() > 64 {
        return false;
    }
    let Some((negative, whole, fraction)) = decimal(t) else {
        return false;
    };
    if !fraction.iter().all(|&c| c == b'0') {
        return false; // "1.5" is Python's error; "1.00000000000000001" is Python's to round
    }
    let Some(n) = digits_value(whole) else {
        return false;
    };
    out.extend_from_slice(
        itoa::Buffer::new()
            .format(if negative { -n } else { n })
            .as_bytes(),
    );
    true
}

/// `t` from `at` past ASCII spaces (only ' ': other whitespace is Python's to read).
fn spaces(t: &[u8], mut at: usize) -> usize {
    while t.get(at) == Some(&b' ') {
        at += 1;
    }
    at
}

/// Whether `t[at..]` is one of `words` (ASCII, ignoring case), or empty.
fn ends_with_word(t: &[u8], at: usize, words: &[&[u8]]) -> bool {
    let rest = &t[at.min(t.len())..];
    rest.is_empty() || words.iter().any(|w| rest.eq_ignore_ascii_case(w))
}

fn leading_digits(t: &[u8], at: usize, max: usize) -> usize {
    t[at..]
        .iter()
        .take(max + 1)
        .take_while(|c| c.is_ascii_digit())
        .count()
}

/// `forms.term_months`: "36", " 36 months" as an integer.
fn term(out: &mut Vec<u8>, t: &[u8]) -> bool {
    let n = leading_digits(t, 0, 3);
    if t.len() > 32 || n == 0 || n > 3 {
        return false;
    }
    if !ends_with_word(t, spaces(t, n), &[b"month", b"months"]) {
        return false;
    }
    let value = digits_value(&t[..n]).unwrap_or(0);
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    true
}

/// `forms.employment_years`: "10+ years" 10, "< 1 year" 0, "n/a" null, "3 yrs" 3.
fn years(out: &mut Vec<u8>, t: &[u8]) -> bool {
    if [&b"n/a"[..], b"na", b"none"]
        .iter()
        .any(|w| t.eq_ignore_ascii_case(w))
    {
        out.extend_from_slice(b"null");
        return true;
    }
    if t.len() > 32 {
        return false;
    }
    let below = t[0] == b'<';
    let at = if below { spaces(t, 1) } else { 0 };
    let n = leading_digits(t, at, 2);
    if n == 0 || n > 2 {
        return false;
    }
    let mut end = spaces(t, at + n);
    if t.get(end) == Some(&b'+') {
        end = spaces(t, end + 1);
    }
    if !ends_with_word(t, end, &[b"year", b"years", b"yr", b"yrs"]) {
        return false;
    }
    let value = if below {
        0
    } else {
        digits_value(&t[at..at + n]).unwrap_or(0).min(10)
    };
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    true
}

const MONTHS: [&[u8]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

fn all_digits(t: &[u8]) -> bool {
    t.iter().all(u8::is_ascii_digit)
}

/// `forms.month_parts`: (year, month, two-digit year?) of "Aug-1998", "Aug-98", "1998-08",
/// "1998-08-01", or None (declined).
pub(crate) fn month_parts(t: &[u8]) -> Option<(i64, i64, bool)> {
    if t.len() > 32 {
        return None;
    }
    let parts: Vec<&[u8]> = t.split(|&c| c == b'-').collect();
    let number = |d: &[u8]| digits_value(d).filter(|_| !d.is_empty() && all_digits(d));
    match parts[..] {
        [name, year] if name.len() == 3 && name.iter().all(u8::is_ascii_alphabetic) => {
            let month = MONTHS.iter().position(|m| name.eq_ignore_ascii_case(m))?;
            if year.len() != 2 && year.len() != 4 {
                return None;
            }
            Some((number(year)?, month as i64 + 1, year.len() == 2))
        }
        [year, month] | [year, month, _] if year.len() == 4 && (1..=2).contains(&month.len()) => {
            let (year, month) = (number(year)?, number(month)?);
            if let [_, _, day] = parts[..] {
                let day = number(day).filter(|_| (1..=2).contains(&day.len()))?;
                if !(1..=31).contains(&day) {
                    return None;
                }
            }
            (1..=12).contains(&month).then_some((year, month, false))
        }
        _ => None,
    }
}

/// `forms.full_year`: a two-digit year in the century that puts it at or before `reference`.
fn full_year(year: i64, two_digit: bool, reference: i64) -> i64 {
    match two_digit {
        false => year,
        true if 2000 + year <= reference => year + 2000,
        true => year + 1900,
    }
}

fn write_month(out: &mut Vec<u8>, year: i64, month: i64) {
    let mut buf = itoa::Buffer::new();
    out.push(b'"');
    let y = buf.format(year).as_bytes();
    out.extend(std::iter::repeat_n(b'0', 4usize.saturating_sub(y.len())));
    out.extend_from_slice(y);
    out.push(b'-');
    if month < 10 {
        out.push(b'0');
    }
    out.extend_from_slice(buf.format(month).as_bytes());
    out.push(b'"');
}

impl Typed {
    /// Append the record's typed body (`{` and the fields, no closing brace) to `out` and
    /// count its dropped cells, or return false (declined: `out` may hold a partial body).
    pub(crate) fn encode<'a>(
        &mut self,
        cell: impl Fn(usize) -> &'a [u8],
        out: &mut Vec<u8>,
    ) -> bool {
        let text = |f: &TypedField| f.position.map_or(Cell::Blank, |i| strip(cell(i)));
        // the year credit lines are read against: the issue month's, else the reference year
        let mut as_of = self.year;
        if let Some(issue) = self.fields.iter().find(|f| f.issue) {
            match text(issue) {
                Cell::Blank => {}
                Cell::Text(t) => match month_parts(t) {
                    Some((y, _, two)) => as_of = full_year(y, two, self.year),
                    None => return false,
                },
                Cell::Decline => return false,
            }
        }
        out.push(b'{');
        for (k, f) in self.fields.iter().enumerate() {
            if k > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&f.key);
            let t = match text(f) {
                Cell::Blank if f.nullable => {
                    out.extend_from_slice(b"null");
                    continue;
                }
                Cell::Text(t) => t,
                Cell::Blank | Cell::Decline => return false,
            };
            let ok = match f.kind {
                Kind::Id => {
                    all_digits(t) && {
                        out.push(b'"');
                        out.extend_from_slice(t);
                        out.push(b'"');
                        true
                    }
                }
                Kind::Number { percent } => number(out, t, percent),
                Kind::Integer => integer(out, t),
                Kind::Term => term(out, t),
                Kind::Years => years(out, t),
                Kind::Month => match month_parts(t) {
                    Some((y, m, two)) => {
                        let reference = if f.issue { self.year } else { as_of };
                        write_month(out, full_year(y, two, reference), m);
                        true
                    }
                    None => false,
                },
                Kind::Text => {
                    out.push(b'"');
                    json_escaped(out, t);
                    out.push(b'"');
                    true
                }
            };
            if !ok {
                return false;
            }
        }
        for (count, (_, i)) in self.counts.iter_mut().zip(&self.dropped) {
            *count += u64::from(!cell(*i).is_empty());
        }
        true
    }
}
