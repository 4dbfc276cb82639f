//! loanstream's hot paths, compiled. `BatchScorer`: the sink's Kafka message -> event fields ->
//! features -> rules -> one CSV line for `COPY risk_scored`. `CsvEvents` (at the end): the
//! producer's CSV file -> events (key, JSON body).
//!
//! Contract (checked by tests/unit/test_scoring_native.py on every row of both samples, on
//! hypothesis input and on the hostile-event corpus): for each message this either writes
//! exactly the row `loanstream.sink.score_message` builds in Python, or *declines* it and the
//! Python path handles it. Python stays the definition: every dead letter and every error
//! message comes from it. Only the plain forms the loanstream producer writes are accepted
//! here: a flat JSON object whose values are strings, nulls, booleans or short plain numbers;
//! the fields scoring reads are printable ASCII text without escapes (or null); numbers are
//! plain decimals; `event_time` is `YYYY-MM-DDTHH:MM:SS[.ffffff]` with `+00:00` or `Z`.
//! Anything else is declined, never guessed.
//!
//! The rule set comes from Python (`loanstream.native`), already parsed and validated from
//! include/rules/risk_rules.yaml; a rule set with anything this evaluator does not model
//! exactly as Python does is refused at construction, and Python scores everything. So do
//! every bound, cap and table parsing uses (`loanstream.scoring.limits.Limits`): none is a
//! literal here, and a limit this code does not know is refused at construction.

use memchr::memchr2;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

// --------------------------------------------------------------------------------------------
// The fields scoring reads
// --------------------------------------------------------------------------------------------

const F_ID: usize = 0;
const F_EVENT_TIME: usize = 1;
const F_LOAN_AMNT: usize = 2;
const F_TERM: usize = 3;
const F_INT_RATE: usize = 4;
const F_ANNUAL_INC: usize = 5;
const F_DTI: usize = 6;
const F_REVOL_UTIL: usize = 7;
const F_EMP_LENGTH: usize = 8;
const F_EARLIEST_CR_LINE: usize = 9;
const F_FICO_LOW: usize = 10;
const F_FICO_HIGH: usize = 11;
const F_INQ: usize = 12;
const F_DELINQ: usize = 13;
const F_PUB_REC: usize = 14;
const F_HOME: usize = 15;
const F_PURPOSE: usize = 16;
const F_ISSUE_D: usize = 17;
const N_FIELDS: usize = 18;

/// Room for a category held inline (longer ones are declined when the limits allow them).
const INLINE_TEXT: usize = 64;

/// `loanstream.scoring.limits.Limits`, as `Limits.native_spec()` hands it over.
struct Limits {
    max_numeric_chars: usize,
    max_text_chars: usize,
    max_short_chars: usize,
    loan_amnt: (f64, f64), // low exclusive
    int_rate: (f64, f64),
    annual_inc: (f64, f64),
    dti: (f64, f64),
    revol_util: (f64, f64),
    fico: (f64, f64),
    count: (f64, f64),
    term_months: Vec<i64>,
    emp_length_cap: i64,
    emp_length_blanks: Vec<String>,
    min_year: i64,
    month_names: Vec<String>,
}

impl Limits {
    fn from_spec(spec: &Bound<'_, PyDict>) -> PyResult<Self> {
        // limits that only bound JSON numbers, which are declined in the fields scoring reads
        const ONLY_FOR_NUMBERS: [&str; 2] = ["max_abs_int", "emp_length_max"];
        let known = [
            "max_numeric_chars",
            "max_text_chars",
            "max_short_chars",
            "loan_amnt",
            "int_rate",
            "annual_inc",
            "dti",
            "revol_util",
            "fico",
            "count",
            "term_months",
            "emp_length_cap",
            "emp_length_blanks",
            "min_year",
            "month_names",
        ];
        for key in spec.keys() {
            let key: String = key.extract()?;
            if !known.contains(&key.as_str()) && !ONLY_FOR_NUMBERS.contains(&key.as_str()) {
                return Err(PyValueError::new_err(format!(
                    "limit {key} is not modelled natively"
                )));
            }
        }
        fn get<'py, T: FromPyObject<'py>>(spec: &Bound<'py, PyDict>, key: &str) -> PyResult<T> {
            spec.get_item(key)?
                .ok_or_else(|| PyValueError::new_err(format!("limit {key} is missing")))?
                .extract()
        }
        let range = |key: &str| -> PyResult<(f64, f64)> {
            let pair: Vec<f64> = get(spec, key)?;
            match pair.as_slice() {
                [low, high] => Ok((*low, *high)),
                _ => Err(PyValueError::new_err(format!(
                    "limit {key} is not a (low, high) pair"
                ))),
            }
        };
        let min_year: i64 = get(spec, "min_year")?;
        if min_year < 1000 {
            // features_as_of is written with 4-digit years, as date.isoformat() writes these
            return Err(PyValueError::new_err(
                "limit min_year below 1000 is not modelled natively",
            ));
        }
        Ok(Limits {
            max_numeric_chars: get(spec, "max_numeric_chars")?,
            max_text_chars: get(spec, "max_text_chars")?,
            max_short_chars: get(spec, "max_short_chars")?,
            loan_amnt: range("loan_amnt")?,
            int_rate: range("int_rate")?,
            annual_inc: range("annual_inc")?,
            dti: range("dti")?,
            revol_util: range("revol_util")?,
            fico: range("fico")?,
            count: range("count")?,
            term_months: get(spec, "term_months")?,
            emp_length_cap: get(spec, "emp_length_cap")?,
            emp_length_blanks: get(spec, "emp_length_blanks")?,
            min_year,
            month_names: get(spec, "month_names")?,
        })
    }
}

#[inline]
fn field_slot(key: &[u8]) -> Option<usize> {
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
enum Raw<'a> {
    Absent,
    Null,
    Str(&'a str),
}

// --------------------------------------------------------------------------------------------
// JSON: a strict scanner for one flat object (None = decline)
// --------------------------------------------------------------------------------------------

#[inline]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// A JSON string whose opening quote is at `i - 1`: (index after the closing quote, escaped?).
#[inline]
fn scan_string(b: &[u8], mut i: usize) -> Option<(usize, bool)> {
    let mut escaped = false;
    loop {
        let stop = i + memchr2(b'"', b'\\', &b[i..])?;
        if b[i..stop].iter().any(|&c| c < 0x20) {
            return None; // a raw control character: not JSON
        }
        if b[stop] == b'"' {
            return Some((stop + 1, escaped));
        }
        escaped = true;
        match *b.get(stop + 1)? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i = stop + 2,
            b'u' => {
                let mut code: u32 = 0;
                for &h in b.get(stop + 2..stop + 6)? {
                    code = code * 16 + (h as char).to_digit(16)?;
                }
                if (0xD800..0xE000).contains(&code) {
                    return None; // surrogates (paired or lone): left to orjson
                }
                i = stop + 6;
            }
            _ => return None,
        }
    }
}

/// `-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,15})?`: plain numbers any JSON parser reads alike.
#[inline]
fn scan_number(b: &[u8], mut i: usize) -> Option<usize> {
    if b[i] == b'-' {
        i += 1;
    }
    let start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let digits = i - start;
    if digits == 0 || digits > 15 || (digits > 1 && b[start] == b'0') {
        return None;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start || i - start > 15 {
            return None;
        }
    }
    Some(i)
}

/// A value other than a string at `b[i]`: null (fills a slot), true/false or a plain number
/// (only in fields scoring does not read). Nested values are not what the producer writes.
#[inline]
fn scan_literal(b: &[u8], i: usize, slot: Option<usize>, raw: &mut [Raw<'_>]) -> Option<usize> {
    match b[i] {
        b'n' => {
            if b.get(i..i + 4)? != b"null" {
                return None;
            }
            if let Some(k) = slot {
                raw[k] = Raw::Null; // a repeated key: the last one counts, as in orjson
            }
            Some(i + 4)
        }
        b't' | b'f' => {
            let word: &[u8] = if b[i] == b't' { b"true" } else { b"false" };
            if slot.is_some() || b.get(i..i + word.len())? != word {
                return None;
            }
            Some(i + word.len())
        }
        b'-' | b'0'..=b'9' if slot.is_none() => scan_number(b, i),
        _ => None,
    }
}

/// No byte below 0x20 (vectorises, unlike an early-exit `any`).
#[inline]
fn no_control_bytes(b: &[u8]) -> bool {
    b.chunks(64)
        .all(|chunk| chunk.iter().fold(0u8, |acc, &c| acc | u8::from(c < 0x20)) == 0)
}

fn scan_event<'a>(b: &'a [u8], quotes: &mut Vec<u32>) -> Option<[Raw<'a>; N_FIELDS]> {
    if !b.is_ascii() {
        std::str::from_utf8(b).ok()?;
    }
    // What the producer writes: no escapes and no control bytes (so no whitespace but spaces):
    // then every quote opens or closes a string, found for the whole event in one pass.
    if memchr::memchr(b'\\', b).is_none() && no_control_bytes(b) {
        quote_positions(b, quotes);
        let mut q = 0; // the index in `quotes` of the next quote
        return scan_object(b, |open| {
            if *quotes.get(q)? as usize != open {
                return None;
            }
            let close = *quotes.get(q + 1)? as usize;
            q += 2;
            Some((close, false))
        });
    }
    scan_object(b, |open| {
        scan_string(b, open + 1).map(|(after, escaped)| (after - 1, escaped))
    })
}

/// The object itself, for either way of finding strings: `string(open)` gives the index of
/// the closing quote of the string opened at `open`, and whether it held escapes.
#[inline(always)]
fn scan_object<'a>(
    b: &'a [u8],
    mut string: impl FnMut(usize) -> Option<(usize, bool)>,
) -> Option<[Raw<'a>; N_FIELDS]> {
    // SAFETY: scan_event checked `b` is UTF-8 (ASCII, or validated)
    let text = unsafe { std::str::from_utf8_unchecked(b) };
    let mut raw = [Raw::Absent; N_FIELDS];
    let mut i = skip_ws(b, 0);
    if *b.get(i)? != b'{' {
        return None;
    }
    i = skip_ws(b, i + 1);
    if *b.get(i)? == b'}' {
        i += 1;
    } else {
        loop {
            if *b.get(i)? != b'"' {
                return None;
            }
            let (key_end, key_escaped) = string(i)?;
            if key_escaped {
                return None;
            }
            let slot = field_slot(&b[i + 1..key_end]);
            i = skip_ws(b, key_end + 1);
            if *b.get(i)? != b':' {
                return None;
            }
            i = skip_ws(b, i + 1);
            if *b.get(i)? == b'"' {
                let (end, escaped) = string(i)?;
                if let Some(k) = slot {
                    if escaped {
                        return None; // the fields scoring reads: plain text only
                    }
                    raw[k] = Raw::Str(&text[i + 1..end]); // quotes are ASCII boundaries
                }
                i = end + 1;
            } else {
                i = scan_literal(b, i, slot, &mut raw)?;
            }
            i = skip_ws(b, i);
            match *b.get(i)? {
                b',' => i = skip_ws(b, i + 1),
                b'}' => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    if skip_ws(b, i) != b.len() {
        return None;
    }
    Some(raw)
}

/// The positions of every `"` in `b`: 64 bytes per step with SSE2 (every x86-64 has it).
#[cfg(target_arch = "x86_64")]
fn quote_positions(b: &[u8], out: &mut Vec<u32>) {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };
    out.clear();
    let chunks = b.chunks_exact(64);
    let tail = chunks.remainder();
    // SAFETY: SSE2 is part of x86-64; each load reads 16 bytes inside a 64-byte chunk
    unsafe {
        let quote = _mm_set1_epi8(b'"' as i8);
        for (n, chunk) in chunks.enumerate() {
            let p = chunk.as_ptr();
            let mut hits = 0u64;
            for lane in 0..4 {
                let v = _mm_loadu_si128(p.add(lane * 16) as *const __m128i);
                let m = _mm_movemask_epi8(_mm_cmpeq_epi8(v, quote)) as u32 as u64;
                hits |= (m & 0xffff) << (lane * 16);
            }
            while hits != 0 {
                out.push((n * 64) as u32 + hits.trailing_zeros());
                hits &= hits - 1;
            }
        }
    }
    let base = b.len() - tail.len();
    out.extend(
        tail.iter()
            .enumerate()
            .filter(|(_, &c)| c == b'"')
            .map(|(k, _)| (base + k) as u32),
    );
}

/// The positions of every `"` in `b` (other targets: byte by byte).
#[cfg(not(target_arch = "x86_64"))]
fn quote_positions(b: &[u8], out: &mut Vec<u32>) {
    out.clear();
    out.extend(
        b.iter()
            .enumerate()
            .filter(|(_, &c)| c == b'"')
            .map(|(k, _)| k as u32),
    );
}

// --------------------------------------------------------------------------------------------
// preprocess_event, for the plain forms (None = decline; Python raises or handles the rest)
// --------------------------------------------------------------------------------------------

/// A field as `_raw` sees it: Ok(None) blank/null/absent, Ok(Some(text)) stripped text.
/// Err(()) declines: text outside printable ASCII (Python's strip, isprintable and regexes
/// are Unicode-aware; only ASCII is modelled here).
#[inline]
fn text(raw: Raw<'_>) -> Result<Option<&str>, ()> {
    match raw {
        Raw::Absent | Raw::Null => Ok(None),
        Raw::Str(s) => {
            if !s.bytes().all(|c| (0x20..0x7f).contains(&c)) {
                return Err(());
            }
            let t = s.trim_matches(' ');
            Ok(if t.is_empty() { None } else { Some(t) })
        }
    }
}

/// `_NUMBER_RE`: `[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?`, finite.
fn number(t: &str) -> Option<f64> {
    let b = t.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start || i - exp_start > 3 {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    let value: f64 = t.parse().ok()?; // correctly rounded, as Python's float()
    value.is_finite().then_some(value)
}

/// `_opt_float`: blank -> None; else a number (a trailing % allowed) within [low, high].
fn opt_float(
    raw: Raw<'_>,
    (low, high): (f64, f64),
    percent: bool,
    lim: &Limits,
) -> Result<Option<f64>, ()> {
    let Some(mut t) = text(raw)? else {
        return Ok(None);
    };
    if t.len() > lim.max_numeric_chars {
        return Err(());
    }
    if percent {
        if let Some(stripped) = t.strip_suffix('%') {
            t = stripped.trim_end_matches(' ');
        }
    }
    let value = number(t).ok_or(())?;
    if low <= value && value <= high {
        Ok(Some(value))
    } else {
        Err(())
    }
}

/// `_count`: a whole number within `count` ("1.0" included).
fn opt_count(raw: Raw<'_>, lim: &Limits) -> Result<Option<i64>, ()> {
    match opt_float(raw, lim.count, false, lim)? {
        None => Ok(None),
        Some(v) if v.fract() == 0.0 => Ok(Some(v as i64)),
        Some(_) => Err(()),
    }
}

/// `_TERM_RE` = `(\d{1,3})\s*(?:months?)?` (ignoring case), then one of `term_months`.
fn term(raw: Raw<'_>, lim: &Limits) -> Result<i64, ()> {
    let t = text(raw)?.ok_or(())?;
    if t.len() > lim.max_short_chars {
        return Err(());
    }
    let b = t.as_bytes();
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 || digits > 3 {
        return Err(());
    }
    let rest = t[digits..].trim_start_matches(' ');
    if !(rest.is_empty()
        || rest.eq_ignore_ascii_case("month")
        || rest.eq_ignore_ascii_case("months"))
    {
        return Err(());
    }
    match t[..digits].parse::<i64>() {
        Ok(m) if lim.term_months.contains(&m) => Ok(m),
        _ => Err(()),
    }
}

/// `_emp_length`: a blank word (n/a) -> None; `(<\s*)?(\d{1,2})\s*(\+)?\s*(?:years?|yrs?)?`
/// -> years, capped.
fn emp_length(raw: Raw<'_>, lim: &Limits) -> Result<Option<i64>, ()> {
    let Some(t) = text(raw)? else { return Ok(None) };
    // Python: value.lower() in emp_length_blanks (text() let only ASCII through)
    if lim
        .emp_length_blanks
        .iter()
        .any(|word| equals_lowered(word, t))
    {
        return Ok(None);
    }
    if t.len() > lim.max_short_chars {
        return Err(());
    }
    let mut rest = t;
    let under = rest.starts_with('<');
    if under {
        rest = rest[1..].trim_start_matches(' ');
    }
    let digits = rest.bytes().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 || digits > 2 {
        return Err(());
    }
    let years: i64 = rest[..digits].parse().map_err(|_| ())?;
    rest = rest[digits..].trim_start_matches(' ');
    if let Some(after) = rest.strip_prefix('+') {
        rest = after.trim_start_matches(' ');
    }
    if !(rest.is_empty()
        || ["year", "years", "yr", "yrs"]
            .iter()
            .any(|w| rest.eq_ignore_ascii_case(w)))
    {
        return Err(());
    }
    Ok(Some(
        (if under { 0 } else { years }).min(lim.emp_length_cap),
    ))
}

/// The length of `event_time` as Python checks it (event_time() accepts no padding).
#[inline]
fn event_time_text_len(raw: Raw<'_>) -> usize {
    match raw {
        Raw::Str(s) => s.len(),
        _ => 0,
    }
}

/// `word == t.lower()` for ASCII `t`, without allocating.
#[inline]
fn equals_lowered(word: &str, t: &str) -> bool {
    word.len() == t.len()
        && word
            .bytes()
            .zip(t.bytes())
            .all(|(w, c)| w == c.to_ascii_lowercase())
}

/// `event_time` as Python's fromisoformat reads it, when already UTC:
/// (isoformat() text, year, month).
fn event_time(raw: Raw<'_>) -> Option<(Inline<32>, i64, i64)> {
    let Raw::Str(s) = raw else { return None };
    let b = s.as_bytes();
    let (body, micro) = match b.len() {
        25 | 20 => (&b[..19], None),
        32 | 27 => {
            if b[19] != b'.' || !b[20..26].iter().all(u8::is_ascii_digit) {
                return None;
            }
            (&b[..19], Some(&s[20..26]))
        }
        _ => return None,
    };
    let zone = &b[body.len() + micro.map_or(0, |_| 7)..];
    if zone != b"+00:00" && zone != b"Z" {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = &body[r];
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if body[4] != b'-'
        || body[7] != b'-'
        || body[10] != b'T'
        || body[13] != b':'
        || body[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || day < 1
        || day > days[(month - 1) as usize]
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut iso = Inline {
        buf: [0; 32],
        len: 0,
    };
    let mut put = |part: &[u8]| {
        iso.buf[iso.len..iso.len + part.len()].copy_from_slice(part);
        iso.len += part.len();
    };
    put(body);
    if let Some(m) = micro.filter(|m| *m != "000000") {
        put(b".");
        put(m.as_bytes());
    }
    put(b"+00:00");
    Some((iso, year, month))
}

/// `_month_parts`: (year, month, two-digit year?) of "Apr-1997" / "Apr-97" / "1997-04[-01]";
/// Ok(None) blank.
fn month_parts(raw: Raw<'_>, lim: &Limits) -> Result<Option<(i64, i64, bool)>, ()> {
    let Some(t) = text(raw)? else { return Ok(None) };
    if t.len() > lim.max_short_chars {
        return Err(());
    }
    let b = t.as_bytes();
    let all_digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if b.len() >= 6 && b[3] == b'-' && b[..3].iter().all(u8::is_ascii_alphabetic) {
        // ([A-Za-z]{3})-(\d{2}|\d{4})
        let year_text = &b[4..];
        if !(year_text.len() == 2 || year_text.len() == 4) || !all_digits(year_text) {
            return Err(());
        }
        let name = &t[..3];
        let month = lim
            .month_names
            .iter()
            .position(|m| equals_lowered(m, name))
            .ok_or(())? as i64
            + 1;
        let year: i64 = t[4..].parse().map_err(|_| ())?;
        return Ok(Some((year, month, year_text.len() == 2)));
    }
    // (\d{4})-(\d{1,2})(?:-(\d{1,2}))?
    let mut parts = t.split('-');
    let y = parts.next().ok_or(())?;
    let m = parts.next().ok_or(())?;
    let d = parts.next();
    if parts.next().is_some()
        || y.len() != 4
        || !all_digits(y.as_bytes())
        || !(1..=2).contains(&m.len())
        || !all_digits(m.as_bytes())
    {
        return Err(());
    }
    if let Some(d) = d {
        if !(1..=2).contains(&d.len()) || !all_digits(d.as_bytes()) {
            return Err(());
        }
        let day: i64 = d.parse().map_err(|_| ())?;
        if !(1..=31).contains(&day) {
            return Err(());
        }
    }
    let month: i64 = m.parse().map_err(|_| ())?;
    if !(1..=12).contains(&month) {
        return Err(());
    }
    Ok(Some((y.parse().map_err(|_| ())?, month, false)))
}

/// `_full_year`: a two-digit year in the century that puts it at or before `reference_year`.
#[inline]
fn full_year(year: i64, two_digit: bool, reference_year: i64) -> i64 {
    match (two_digit, 2000 + year <= reference_year) {
        (false, _) => year,
        (true, true) => year + 2000,
        (true, false) => year + 1900,
    }
}

/// `features_as_of`: (year, month) of `issue_d` when present, else of `event_time`; and
/// whether it came from `issue_d`.
fn as_of(raw: Raw<'_>, at_year: i64, at_month: i64, lim: &Limits) -> Result<(i64, i64, bool), ()> {
    match month_parts(raw, lim)? {
        None => Ok((at_year, at_month, false)),
        Some((year, month, two_digit)) => {
            let year = full_year(year, two_digit, at_year);
            if year < lim.min_year {
                return Err(());
            }
            Ok((year, month, true))
        }
    }
}

/// `_credit_history`: whole months from `earliest_cr_line` to the as-of month.
fn credit_history(raw: Raw<'_>, as_of: (i64, i64), lim: &Limits) -> Result<Option<i64>, ()> {
    let Some((year, month, two_digit)) = month_parts(raw, lim)? else {
        return Ok(None);
    };
    let year = full_year(year, two_digit, as_of.0);
    let months = (as_of.0 - year) * 12 + (as_of.1 - month);
    if year < lim.min_year || months < 0 {
        return Err(());
    }
    Ok(Some(months))
}

/// Short ASCII text held inline (no allocation while parsing and scoring).
#[derive(Clone, Copy)]
struct Inline<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Inline<N> {
    fn as_str(&self) -> &str {
        // only ever filled from ASCII
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

fn category(raw: Raw<'_>, upper: bool, lim: &Limits) -> Result<Option<Inline<INLINE_TEXT>>, ()> {
    let Some(t) = text(raw)? else { return Ok(None) };
    if t.len() > lim.max_text_chars || t.len() > INLINE_TEXT {
        return Err(());
    }
    let mut cat = Inline {
        buf: [0; INLINE_TEXT],
        len: t.len(),
    };
    for (dst, src) in cat.buf.iter_mut().zip(t.bytes()) {
        *dst = if upper {
            src.to_ascii_uppercase()
        } else {
            src.to_ascii_lowercase()
        };
    }
    Ok(Some(cat))
}

struct Features<'a> {
    loan_id: &'a str,
    loan_amnt: f64,
    term_months: i64,
    int_rate: Option<f64>,
    annual_inc: Option<f64>,
    dti: Option<f64>,
    revol_util: Option<f64>,
    emp_length_years: Option<i64>,
    credit_history_months: Option<i64>,
    fico: Option<f64>,
    inq_last_6mths: Option<i64>,
    delinq_2yrs: Option<i64>,
    pub_rec: Option<i64>,
    home_ownership: Option<Inline<INLINE_TEXT>>,
    purpose: Option<Inline<INLINE_TEXT>>,
    event_time: Inline<32>,
    as_of: (i64, i64, bool), // features_as_of (year, month), and whether from issue_d
}

fn preprocess<'a>(raw: &[Raw<'a>; N_FIELDS], lim: &Limits) -> Result<Features<'a>, ()> {
    let loan_id = match raw[F_ID] {
        Raw::Str(s) => {
            let t = text(Raw::Str(s))?.ok_or(())?;
            if t.len() > lim.max_text_chars {
                return Err(());
            }
            t
        }
        _ => return Err(()),
    };
    let (event_time, at_year, at_month) = event_time(raw[F_EVENT_TIME]).ok_or(())?;
    if event_time_text_len(raw[F_EVENT_TIME]) > lim.max_text_chars {
        return Err(()); // Python: too long for a timestamp
    }
    let everything = (f64::MIN, f64::MAX);
    let loan_amnt = opt_float(raw[F_LOAN_AMNT], everything, false, lim)?.ok_or(())?;
    if !(lim.loan_amnt.0 < loan_amnt && loan_amnt <= lim.loan_amnt.1) {
        return Err(());
    }
    let term_months = term(raw[F_TERM], lim)?;
    let int_rate = opt_float(raw[F_INT_RATE], lim.int_rate, true, lim)?;
    let annual_inc = opt_float(raw[F_ANNUAL_INC], lim.annual_inc, false, lim)?;
    let dti = opt_float(raw[F_DTI], lim.dti, false, lim)?;
    let revol_util = opt_float(raw[F_REVOL_UTIL], lim.revol_util, true, lim)?;
    let emp_length_years = emp_length(raw[F_EMP_LENGTH], lim)?;
    let (as_of_year, as_of_month, from_issue_d) = as_of(raw[F_ISSUE_D], at_year, at_month, lim)?;
    let credit_history_months =
        credit_history(raw[F_EARLIEST_CR_LINE], (as_of_year, as_of_month), lim)?;
    let low = opt_float(raw[F_FICO_LOW], lim.fico, false, lim)?;
    let high = opt_float(raw[F_FICO_HIGH], lim.fico, false, lim)?;
    let fico = match (low, high) {
        (Some(l), Some(h)) if l <= h => Some((l + h) / 2.0),
        (Some(_), Some(_)) => return Err(()), // Python raises: fico_range_low > fico_range_high
        (l, h) => l.or(h),
    };
    Ok(Features {
        loan_id,
        loan_amnt,
        term_months,
        int_rate,
        annual_inc,
        dti,
        revol_util,
        emp_length_years,
        credit_history_months,
        fico,
        inq_last_6mths: opt_count(raw[F_INQ], lim)?,
        delinq_2yrs: opt_count(raw[F_DELINQ], lim)?,
        pub_rec: opt_count(raw[F_PUB_REC], lim)?,
        home_ownership: category(raw[F_HOME], true, lim)?,
        purpose: category(raw[F_PURPOSE], false, lim)?,
        event_time,
        as_of: (as_of_year, as_of_month, from_issue_d),
    })
}

// --------------------------------------------------------------------------------------------
// Rules
// --------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Field {
    Num(fn(&Features) -> Option<f64>),
    Text(for<'a> fn(&'a Features<'_>) -> Option<&'a str>),
}

fn rule_field(name: &str) -> Option<Field> {
    // the int fields are small: exact as f64
    Some(match name {
        "loan_amnt" => Field::Num(|f| Some(f.loan_amnt)),
        "term_months" => Field::Num(|f| Some(f.term_months as f64)),
        "int_rate" => Field::Num(|f| f.int_rate),
        "annual_inc" => Field::Num(|f| f.annual_inc),
        "dti" => Field::Num(|f| f.dti),
        "revol_util" => Field::Num(|f| f.revol_util),
        "emp_length_years" => Field::Num(|f| f.emp_length_years.map(|x| x as f64)),
        "credit_history_months" => Field::Num(|f| f.credit_history_months.map(|x| x as f64)),
        "fico" => Field::Num(|f| f.fico),
        "inq_last_6mths" => Field::Num(|f| f.inq_last_6mths.map(|x| x as f64)),
        "delinq_2yrs" => Field::Num(|f| f.delinq_2yrs.map(|x| x as f64)),
        "pub_rec" => Field::Num(|f| f.pub_rec.map(|x| x as f64)),
        "income_to_loan" => Field::Num(|f| f.annual_inc.map(|a| a / f.loan_amnt)),
        "home_ownership" => Field::Text(|f| f.home_ownership.as_ref().map(Inline::as_str)),
        "purpose" => Field::Text(|f| f.purpose.as_ref().map(Inline::as_str)),
        _ => return None,
    })
}

#[derive(Clone)]
enum Value {
    Num(f64),
    Text(String),
}

enum Test {
    Missing(bool),
    Compare(fn(f64, f64) -> bool, f64),
    Between(f64, f64),
    Equals(Value),
    In(Vec<Value>),
}

struct Rule {
    field: Field,
    test: Test,
    points: i64,
}

impl Rule {
    #[inline]
    fn holds(&self, f: &Features) -> bool {
        match (&self.test, self.field) {
            (Test::Missing(want), Field::Num(get)) => get(f).is_none() == *want,
            (Test::Missing(want), Field::Text(get)) => get(f).is_none() == *want,
            (Test::Compare(op, c), Field::Num(get)) => get(f).is_some_and(|v| op(v, *c)),
            (Test::Between(lo, hi), Field::Num(get)) => get(f).is_some_and(|v| *lo <= v && v < *hi),
            (Test::Equals(c), field) => matches_value(field, f, std::slice::from_ref(c)),
            (Test::In(values), field) => matches_value(field, f, values),
            _ => unreachable!("refused when the rule set was built"),
        }
    }
}

/// Python's `actual == c` / `actual in values`: a number equals only numbers, text only text.
#[inline]
fn matches_value(field: Field, f: &Features, values: &[Value]) -> bool {
    match field {
        Field::Num(get) => {
            get(f).is_some_and(|v| values.iter().any(|c| matches!(c, Value::Num(n) if *n == v)))
        }
        Field::Text(get) => {
            get(f).is_some_and(|v| values.iter().any(|c| matches!(c, Value::Text(t) if t == v)))
        }
    }
}

/// A rule value as Python compares it: int (exact in f64) or float, or str; else refused.
fn rule_value(value: &Bound<'_, PyAny>) -> PyResult<Value> {
    if value.is_instance_of::<PyString>() {
        return Ok(Value::Text(value.extract()?));
    }
    if value.is_instance_of::<PyFloat>() {
        return Ok(Value::Num(value.extract()?));
    }
    if value.is_instance_of::<PyInt>() && !value.is_instance_of::<pyo3::types::PyBool>() {
        let n: i64 = value.extract()?;
        if n.unsigned_abs() < (1u64 << 53) {
            return Ok(Value::Num(n as f64));
        }
    }
    Err(PyValueError::new_err(format!(
        "rule value {value} is not modelled natively"
    )))
}

// --------------------------------------------------------------------------------------------
// CSV (as Python's csv.writer with QUOTE_MINIMAL writes the row)
// --------------------------------------------------------------------------------------------

#[inline]
fn csv_text(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|c| matches!(c, b',' | b'"' | b'\n' | b'\r')) {
        out.push(b'"');
        for c in s.bytes() {
            if c == b'"' {
                out.push(b'"');
            }
            out.push(c);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

/// `s` as inside a quoted CSV field: quotes doubled.
#[inline]
fn csv_quoted_body(out: &mut Vec<u8>, s: &str) {
    for c in s.bytes() {
        if c == b'"' {
            out.push(b'"');
        }
        out.push(c);
    }
}

#[inline]
fn csv_float(out: &mut Vec<u8>, v: Option<f64>) {
    if let Some(v) = v {
        // shortest round-trip digits, as Python's repr (Postgres reads both forms alike)
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    }
}

#[inline]
fn csv_int(out: &mut Vec<u8>, v: Option<i64>) {
    if let Some(v) = v {
        out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }
}

// --------------------------------------------------------------------------------------------
// Python API
// --------------------------------------------------------------------------------------------

/// A compiled rule set that scores batches of Kafka messages into `risk_scored` CSV lines.
#[pyclass(frozen, module = "loanstream._scoring_native")]
struct BatchScorer {
    rules: Vec<Rule>,
    ranked: Vec<usize>, // rule indices by points descending, file order among equals
    reasons_json: Vec<String>, // each rule's code as a JSON string (orjson.dumps(code))
    bands: Vec<String>, // band of each score 0..=100
    decisions: Vec<String>, // decision of each score 0..=100
    version: String,
    limits: Limits,
    as_of_columns: bool, // write features_as_of, features_as_of_basis after purpose
}

#[pymethods]
impl BatchScorer {
    /// `rules`: (field, op, value, points, code as JSON) per rule, in file order; `bands` and
    /// `decisions`: the band and decision of each score 0..100; `limits`:
    /// `Limits.native_spec()`. Raises ValueError for any rule or limit this evaluator does not
    /// model exactly as Python does. `as_of_columns`: the rows also hold `features_as_of` and
    /// `features_as_of_basis`, right after `purpose` (when the sink's columns do).
    #[new]
    #[pyo3(signature = (rules, bands, decisions, version, limits, as_of_columns = false))]
    fn new(
        rules: &Bound<'_, PyList>,
        bands: Vec<String>,
        decisions: Vec<String>,
        version: String,
        limits: &Bound<'_, PyDict>,
        as_of_columns: bool,
    ) -> PyResult<Self> {
        let limits = Limits::from_spec(limits)?;
        if bands.len() != 101 || decisions.len() != 101 {
            return Err(PyValueError::new_err(
                "bands and decisions need one entry per score 0..100",
            ));
        }
        let mut parsed = Vec::new();
        let mut reasons_json = Vec::new();
        let mut points_of = Vec::new();
        for item in rules.iter() {
            let item = item.downcast::<PyTuple>()?;
            let name: String = item.get_item(0)?.extract()?;
            let op: String = item.get_item(1)?.extract()?;
            let value = item.get_item(2)?;
            let points: i64 = item.get_item(3)?.extract()?;
            let code_json: String = item.get_item(4)?.extract()?;
            if points.unsigned_abs() > 1_000_000 {
                return Err(PyValueError::new_err(
                    "rule points out of the modelled range",
                ));
            }
            let field = rule_field(&name)
                .ok_or_else(|| PyValueError::new_err(format!("unknown rule field {name}")))?;
            let numeric = |v: Value| match v {
                Value::Num(n) => Ok(n),
                Value::Text(_) => Err(PyValueError::new_err("text compared with < or >")),
            };
            let test = match (op.as_str(), field) {
                ("missing", _) => Test::Missing(value.is_truthy()?),
                ("<" | "<=" | ">" | ">=", Field::Num(_)) => {
                    let op: fn(f64, f64) -> bool = match op.as_str() {
                        "<" => |a, b| a < b,
                        "<=" => |a, b| a <= b,
                        ">" => |a, b| a > b,
                        _ => |a, b| a >= b,
                    };
                    Test::Compare(op, numeric(rule_value(&value)?)?)
                }
                ("between", Field::Num(_)) => {
                    let pair = value.downcast::<PyTuple>()?;
                    if pair.len() != 2 {
                        return Err(PyValueError::new_err("between needs two values"));
                    }
                    Test::Between(
                        numeric(rule_value(&pair.get_item(0)?)?)?,
                        numeric(rule_value(&pair.get_item(1)?)?)?,
                    )
                }
                ("==", _) => Test::Equals(rule_value(&value)?),
                ("in", _) => {
                    let mut values = Vec::new();
                    for v in value.try_iter()? {
                        values.push(rule_value(&v?)?);
                    }
                    Test::In(values)
                }
                _ => {
                    return Err(PyValueError::new_err(format!(
                        "rule op {op} on {name} is not modelled"
                    )))
                }
            };
            parsed.push(Rule {
                field,
                test,
                points,
            });
            reasons_json.push(code_json);
            points_of.push(points);
        }
        let mut ranked: Vec<usize> = (0..parsed.len()).collect();
        ranked.sort_by_key(|&i| -points_of[i]); // stable, as Python's sort
        Ok(BatchScorer {
            rules: parsed,
            ranked,
            reasons_json,
            bands,
            decisions,
            version,
            limits,
            as_of_columns,
        })
    }

    /// Score `messages` (confluent_kafka.Message). Returns (CSV lines for the scored ones,
    /// indices of the declined ones, count of rows per risk_score 0..100). The GIL is held
    /// only to read the messages: parsing, scoring and CSV run without it, so the sink's
    /// writer thread can drive Postgres meanwhile.
    fn score<'py>(
        &self,
        py: Python<'py>,
        messages: &Bound<'py, PyList>,
    ) -> PyResult<(Bound<'py, PyBytes>, Vec<usize>, Vec<u64>)> {
        let mut values: Vec<Bound<'py, PyBytes>> = Vec::with_capacity(messages.len());
        let mut metas: Vec<Option<Meta>> = Vec::with_capacity(messages.len());
        for msg in messages.iter() {
            let meta = read_meta(&msg)?;
            match meta {
                Some((value, meta)) => {
                    values.push(value);
                    metas.push(Some(meta));
                }
                None => metas.push(None),
            }
        }
        let slices: Vec<&[u8]> = values.iter().map(|v| v.as_bytes()).collect();
        let (out, declined, score_counts) = py.allow_threads(|| {
            let mut out: Vec<u8> = Vec::with_capacity(metas.len() * 320);
            let mut declined = Vec::new();
            let mut score_counts = vec![0u64; 101];
            let mut hits = vec![false; self.rules.len()];
            let mut quotes = Vec::with_capacity(512);
            let mut next_value = 0;
            for (index, meta) in metas.iter().enumerate() {
                let Some(meta) = meta else {
                    declined.push(index);
                    continue;
                };
                let value = slices[next_value];
                next_value += 1;
                let start = out.len();
                if !self.score_one(
                    value,
                    meta,
                    &mut quotes,
                    &mut out,
                    &mut hits,
                    &mut score_counts,
                ) {
                    out.truncate(start);
                    declined.push(index);
                }
            }
            (out, declined, score_counts)
        });
        Ok((PyBytes::new(py, &out), declined, score_counts))
    }
}

/// What a row needs from a message besides its value.
struct Meta {
    topic: String,
    partition: i64,
    offset: i64,
    run_id: Option<String>,
}

/// (value, meta) of a message, or None to decline it (no bytes value, odd topic or headers).
fn read_meta<'py>(msg: &Bound<'py, PyAny>) -> PyResult<Option<(Bound<'py, PyBytes>, Meta)>> {
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

impl BatchScorer {
    /// One event as a CSV line appended to `out`; false declines it (the caller rewinds `out`).
    fn score_one(
        &self,
        value: &[u8],
        meta: &Meta,
        quotes: &mut Vec<u32>,
        out: &mut Vec<u8>,
        hits: &mut [bool],
        score_counts: &mut [u64],
    ) -> bool {
        let Some(raw) = scan_event(value, quotes) else {
            return false;
        };
        let Ok(f) = preprocess(&raw, &self.limits) else {
            return false;
        };
        let mut total: i64 = 0;
        for (rule, hit) in self.rules.iter().zip(hits.iter_mut()) {
            *hit = rule.holds(&f);
            if *hit {
                total += rule.points;
            }
        }
        let score = total.clamp(0, 100) as usize;
        score_counts[score] += 1;

        csv_text(out, f.loan_id);
        out.push(b',');
        csv_float(out, Some(f.loan_amnt));
        out.push(b',');
        csv_int(out, Some(f.term_months));
        for v in [f.int_rate, f.annual_inc, f.dti, f.revol_util] {
            out.push(b',');
            csv_float(out, v);
        }
        out.push(b',');
        csv_int(out, f.emp_length_years);
        out.push(b',');
        csv_int(out, f.credit_history_months);
        out.push(b',');
        csv_float(out, f.fico);
        for v in [f.inq_last_6mths, f.delinq_2yrs, f.pub_rec] {
            out.push(b',');
            csv_int(out, v);
        }
        out.push(b',');
        csv_text(out, f.home_ownership.as_ref().map_or("", Inline::as_str));
        out.push(b',');
        csv_text(out, f.purpose.as_ref().map_or("", Inline::as_str));
        if self.as_of_columns {
            // date.isoformat() of the month's first day (years are >= min_year, 4 digits)
            let (year, month, from_issue_d) = f.as_of;
            out.push(b',');
            csv_int(out, Some(year)); // 1900..=9999 (min_year >= 1000 is checked in Python)
            out.extend_from_slice(if month < 10 { b"-0" } else { b"-" });
            csv_int(out, Some(month));
            out.extend_from_slice(b"-01");
            out.push(b',');
            out.extend_from_slice(if from_issue_d {
                b"issue_d"
            } else {
                b"event_time"
            });
        }
        out.push(b',');
        csv_int(out, Some(score as i64));
        out.push(b',');
        csv_text(out, &self.bands[score]);
        out.push(b',');
        csv_text(out, &self.decisions[score]);
        out.push(b',');
        // the reasons as JSON (["CODE",...]), quoted for CSV: codes are JSON strings, so the
        // field always holds quotes; each is doubled
        out.extend_from_slice(b"\"[");
        let mut first = true;
        for &i in &self.ranked {
            if hits[i] {
                if !first {
                    out.push(b',');
                }
                first = false;
                csv_quoted_body(out, &self.reasons_json[i]);
            }
        }
        out.extend_from_slice(b"]\"");
        out.push(b',');
        csv_text(out, &self.version);
        out.push(b',');
        csv_text(out, f.event_time.as_str());
        out.push(b',');
        csv_text(out, meta.run_id.as_deref().unwrap_or(""));
        out.push(b',');
        csv_text(out, &meta.topic);
        out.push(b',');
        csv_int(out, Some(meta.partition));
        out.push(b',');
        csv_int(out, Some(meta.offset));
        out.push(b'\n');
        true
    }
}

/// The first `run_id` header with a value, as `_header` reads it: Ok(None) declines (text
/// `_kafka_text` would change, or not a list of pairs); Ok(Some(None)) no such header.
fn run_id_header(msg: &Bound<'_, PyAny>) -> PyResult<Option<Option<String>>> {
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
