//! The fields scoring reads: each one's slot, its raw value as the JSON scanner found it,
//! that value as text the way `cell_value` sees it, and a JSON number as `to_float` reads it.

use super::limits::Limits;

pub(crate) const F_ID: usize = 0;
pub(crate) const F_EVENT_TIME: usize = 1;
pub(crate) const F_LOAN_AMNT: usize = 2;
pub(crate) const F_TERM: usize = 3;
pub(crate) const F_INT_RATE: usize = 4;
pub(crate) const F_ANNUAL_INC: usize = 5;
pub(crate) const F_DTI: usize = 6;
pub(crate) const F_REVOL_UTIL: usize = 7;
pub(crate) const F_EMP_LENGTH: usize = 8;
pub(crate) const F_EARLIEST_CR_LINE: usize = 9;
pub(crate) const F_FICO_LOW: usize = 10;
pub(crate) const F_FICO_HIGH: usize = 11;
pub(crate) const F_INQ: usize = 12;
pub(crate) const F_DELINQ: usize = 13;
pub(crate) const F_PUB_REC: usize = 14;
pub(crate) const F_HOME: usize = 15;
pub(crate) const F_PURPOSE: usize = 16;
pub(crate) const F_ISSUE_D: usize = 17;
pub(crate) const N_FIELDS: usize = 18;

#[inline]
pub(crate) fn field_slot(key: &[u8]) -> Option<usize> {
    Some(match key {
        b"id" => F_ID,
        b"event_time" => F_EVENT_TIME,
        b"loan_amnt" => F_LOAN_AMNT,
        b"term" => F_TERM,
        b"int_rate" => F_INT_RATE,
        b"annual_inc" => F_ANNUAL_INC,
        b"dti" => F_DTI,
        b"revol_util" => F_REVOL_UTIL,
        b"emp_length" => F_EMP_LENGTH,
        b"earliest_cr_line" => F_EARLIEST_CR_LINE,
        b"fico_range_low" => F_FICO_LOW,
        b"fico_range_high" => F_FICO_HIGH,
        b"inq_last_6mths" => F_INQ,
        b"delinq_2yrs" => F_DELINQ,
        b"pub_rec" => F_PUB_REC,
        b"home_ownership" => F_HOME,
        b"purpose" => F_PURPOSE,
        b"issue_d" => F_ISSUE_D,
        _ => return None,
    })
}

#[derive(Clone, Copy)]
pub(crate) enum Raw<'a> {
    Absent,
    Null,
    Str(&'a str),
    /// A JSON number, as written (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`): a typed
    /// event's number (orjson reads it as an int without fraction or exponent, else a float).
    Num(&'a str),
}

/// A field as `cell_value` sees it: Ok(None) blank/null/absent, Ok(Some(text)) stripped text.
/// Err(()) declines: text outside printable ASCII (Python's strip, isprintable and regexes
/// are Unicode-aware; only ASCII is modelled here), and a number where text is read (Python
/// refuses it, or reads it as `str(int)`: an id; left to Python).
#[inline]
pub(crate) fn text(raw: Raw<'_>) -> Result<Option<&str>, ()> {
    match raw {
        Raw::Absent | Raw::Null => Ok(None),
        Raw::Num(_) => Err(()),
        Raw::Str(s) => {
            if !s.bytes().all(|c| (0x20..0x7f).contains(&c)) {
                return Err(());
            }
            let t = s.trim_matches(' ');
            Ok(if t.is_empty() { None } else { Some(t) })
        }
    }
}

/// `word == t.lower()` for ASCII `t`, without allocating.
#[inline]
pub(crate) fn equals_lowered(word: &str, t: &str) -> bool {
    word.len() == t.len()
        && word
            .bytes()
            .zip(t.bytes())
            .all(|(w, c)| w == c.to_ascii_lowercase())
}

/// What orjson makes of a JSON number, when it is read exactly here.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Number {
    /// No fraction and no exponent: a Python int (at most 18 digits: within i64).
    Int(i64),
    /// A fraction: the correctly rounded double, as orjson and Python's float() read it.
    Float(f64),
}

/// The most digits of a JSON integer read here: within i64, so a Python int (orjson reads
/// integers beyond u64 as floats; those are declined).
const MAX_INT_DIGITS: usize = 18;

/// A JSON number (as the scanner checked it) as orjson reads it; None declines: exponents,
/// negative zero as a float and integers over 18 digits (Python reads them all; exactness is
/// not worth modelling for forms the producer never writes).
#[inline]
pub(crate) fn json_number(t: &str) -> Option<Number> {
    let b = t.as_bytes();
    if b.iter().any(|&c| c == b'e' || c == b'E') {
        return None;
    }
    if b.contains(&b'.') {
        let v: f64 = t.parse().ok()?; // correctly rounded, as orjson and float()
        if v == 0.0 && v.is_sign_negative() {
            return None;
        }
        return v.is_finite().then_some(Number::Float(v));
    }
    let digits = b.len() - usize::from(b[0] == b'-');
    if digits > MAX_INT_DIGITS {
        return None;
    }
    t.parse().ok().map(Number::Int) // "-0" is the int 0, as orjson reads it
}

/// `to_float` of a JSON number: `float(int)` within `max_abs_int`, or the float itself.
/// Err declines (Python refuses an int beyond `max_abs_int`; or a form left to Python).
#[inline]
pub(crate) fn json_float(t: &str, lim: &Limits) -> Result<f64, ()> {
    match json_number(t).ok_or(())? {
        Number::Int(i) if i128::from(i).abs() > lim.max_abs_int => Err(()),
        Number::Int(i) => Ok(i as f64), // round half to even, as Python's float(int)
        Number::Float(v) => Ok(v),
    }
}
