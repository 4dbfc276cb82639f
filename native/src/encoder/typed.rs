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
    pub(crate) modelled: bool, // the limits on forms are the defaults modelled here, else decline
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
        if !self.modelled {
            return false;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl Fn(&mut Vec<u8>) -> bool) -> Option<String> {
        let mut out = Vec::new();
        f(&mut out).then(|| String::from_utf8(out).unwrap())
    }

    #[test]
    fn floats_as_orjson_writes_them() {
        // orjson.dumps(v) of each (orjson 3.13)
        for (v, want) in [
            (5000.0, "5000.0"),
            (1e16, "1e+16"),
            (0.1, "0.1"),
            (123456789.123, "123456789.123"),
            (1e-5, "0.00001"),
            (1e-6, "1e-6"),
            (1.5e-7, "1.5e-7"),
            (1e22, "1e+22"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (-0.0, "-0.0"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e15, "1000000000000000.0"),
            (-42.5, "-42.5"),
        ] {
            assert_eq!(
                with(|o| {
                    write_float(o, v);
                    true
                })
                .unwrap(),
                want,
                "{v:e}"
            );
        }
    }

    #[test]
    fn numbers_plain_decimals_and_percentages() {
        let num = |t: &str, p: bool| with(|o| number(o, t.as_bytes(), p));
        assert_eq!(num("5000", false).as_deref(), Some("5000.0"));
        assert_eq!(num("11.53%", true).as_deref(), Some("11.53"));
        assert_eq!(num("11.53 %", true).as_deref(), Some("11.53"));
        assert_eq!(num("+.5", false).as_deref(), Some("0.5"));
        assert_eq!(num("-7.", false).as_deref(), Some("-7.0"));
        assert_eq!(num("0012.50", false).as_deref(), Some("12.5"));
        for declined in ["11.53%", "1e5", "abc", ".", "-", "1.2.3", "1,000", "٣"] {
            assert_eq!(num(declined, false), None, "{declined}");
        }
        assert_eq!(num("%", true), None);
        assert_eq!(num(&"9".repeat(65), false), None); // too long: Python's error
    }

    #[test]
    fn whole_numbers() {
        let int = |t: &str| with(|o| integer(o, t.as_bytes()));
        assert_eq!(int("12").as_deref(), Some("12"));
        assert_eq!(int("1.0").as_deref(), Some("1"));
        assert_eq!(int("-0").as_deref(), Some("0"));
        assert_eq!(int("-3.00").as_deref(), Some("-3"));
        assert_eq!(int("007").as_deref(), Some("7"));
        assert_eq!(int(".0").as_deref(), Some("0"));
        for declined in ["1.5", "1e3", "1234567890123456", "x", ""] {
            assert_eq!(int(declined), None, "{declined}");
        }
    }

    #[test]
    fn terms_and_employment_lengths() {
        let t = |s: &str| with(|o| term(o, s.as_bytes()));
        assert_eq!(t("36 months").as_deref(), Some("36"));
        assert_eq!(t("60").as_deref(), Some("60"));
        assert_eq!(t("036MONTHS").as_deref(), Some("36"));
        assert_eq!(t("1 month").as_deref(), Some("1"));
        for declined in [
            "1234 months",
            "36 mo",
            "36\tmonths",
            "months",
            "36 months x",
        ] {
            assert_eq!(t(declined), None, "{declined}");
        }
        let y = |s: &str| with(|o| years(o, s.as_bytes()));
        assert_eq!(y("10+ years").as_deref(), Some("10"));
        assert_eq!(y("< 1 year").as_deref(), Some("0"));
        assert_eq!(y("<1").as_deref(), Some("0"));
        assert_eq!(y("3 yrs").as_deref(), Some("3"));
        assert_eq!(y("42").as_deref(), Some("10")); // capped, as Python caps it
        assert_eq!(y("N/A").as_deref(), Some("null"));
        assert_eq!(y("none").as_deref(), Some("null"));
        for declined in ["100 years", "ten years", "+5", "5 years+", "< years"] {
            assert_eq!(y(declined), None, "{declined}");
        }
    }

    #[test]
    fn months_and_two_digit_years() {
        assert_eq!(month_parts(b"Aug-1998"), Some((1998, 8, false)));
        assert_eq!(month_parts(b"aug-98"), Some((98, 8, true)));
        assert_eq!(month_parts(b"1998-08"), Some((1998, 8, false)));
        assert_eq!(month_parts(b"1998-8-01"), Some((1998, 8, false)));
        for declined in [
            &b"Foo-1998"[..],
            b"Aug-198",
            b"1998-13",
            b"1998-08-32",
            b"1998-08-00",
            b"98-08",
            b"1998-08-01-01",
            b"Aug 1998",
        ] {
            assert_eq!(month_parts(declined), None);
        }
        assert_eq!(full_year(98, true, 2026), 1998);
        assert_eq!(full_year(26, true, 2026), 2026);
        assert_eq!(full_year(27, true, 2026), 1927);
        let m = with(|o| {
            write_month(o, 7, 3);
            true
        });
        assert_eq!(m.as_deref(), Some("\"0007-03\""));
    }

    #[test]
    fn strip_as_python_strips() {
        assert!(matches!(
            strip(b" \t\x0b\x0c\x1f a b\r\n"),
            Cell::Text(b"a b")
        ));
        assert!(matches!(strip(b" \x1c "), Cell::Blank));
        assert!(matches!(strip(b""), Cell::Blank));
        assert!(matches!(strip("\u{a0}x".as_bytes()), Cell::Decline)); // NBSP: Python's
        assert!(matches!(strip("x\u{2028}".as_bytes()), Cell::Decline));
        assert!(matches!(strip("x caf\u{e9}".as_bytes()), Cell::Decline));
        assert!(matches!(strip("a \u{e9} b".as_bytes()), Cell::Text(_))); // inside: kept
    }

    fn field(name: &str, kind: Kind, nullable: bool, position: Option<usize>) -> TypedField {
        TypedField {
            key: format!("\"{name}\":").into_bytes(),
            kind,
            nullable,
            position,
            issue: name == "issue_d",
        }
    }

    #[test]
    fn records_typed_or_declined() {
        let mut typed = Typed {
            fields: vec![
                field("id", Kind::Id, false, Some(0)),
                field("int_rate", Kind::Number { percent: true }, true, Some(1)),
                field("issue_d", Kind::Month, true, Some(2)),
                field("earliest_cr_line", Kind::Month, true, Some(3)),
                field("title", Kind::Text, true, Some(4)),
                field("absent", Kind::Integer, true, None),
            ],
            year: 2026,
            dropped: vec![("url".to_owned(), 5)],
            counts: vec![0],
            modelled: true,
        };
        fn run(typed: &mut Typed, cells: [&'static str; 6]) -> Option<String> {
            let mut out = Vec::new();
            let ok = typed.encode(|i| cells[i].as_bytes(), &mut out);
            ok.then(|| String::from_utf8(out).unwrap())
        }
        assert_eq!(
            run(
                &mut typed,
                ["7", "11.5%", "Dec-15", "Jan-16", " \"Car\" ", "x"]
            )
            .as_deref(),
            Some(
                r#"{"id":"7","int_rate":11.5,"issue_d":"2015-12","earliest_cr_line":"1916-01","title":"\"Car\"","absent":null"#
            )
        );
        assert_eq!(
            run(&mut typed, ["8", "", "", "Jan-26", "", ""]).as_deref(),
            Some(
                r#"{"id":"8","int_rate":null,"issue_d":null,"earliest_cr_line":"2026-01","title":null,"absent":null"#
            )
        );
        assert_eq!(typed.counts, [1]); // one row had a url
        assert_eq!(run(&mut typed, ["9", "x", "", "", "", ""]), None); // Python rejects it
        assert_eq!(run(&mut typed, ["9", "", "Foo-15", "", "", ""]), None);
        assert_eq!(run(&mut typed, [" ", "", "", "", "", ""]), None); // required id blank
        assert_eq!(typed.counts, [1]); // declined rows are not counted
    }
}
