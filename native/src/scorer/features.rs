//! preprocess_event, for the plain forms (None = decline; Python raises or handles the rest).

use super::dates::{as_of, credit_history, event_time, event_time_text_len};
use super::fields::*;
use super::inline::{Inline, INLINE_TEXT};
use super::limits::Limits;

/// `_NUMBER_RE`: `[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?`, finite.
pub(crate) fn number(t: &str) -> Option<f64> {
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
pub(crate) fn opt_float(
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
pub(crate) fn opt_count(raw: Raw<'_>, lim: &Limits) -> Result<Option<i64>, ()> {
    match opt_float(raw, lim.count, false, lim)? {
        None => Ok(None),
        Some(v) if v.fract() == 0.0 => Ok(Some(v as i64)),
        Some(_) => Err(()),
    }
}

/// `_TERM_RE` = `(\d{1,3})\s*(?:months?)?` (ignoring case), then one of `term_months`.
pub(crate) fn term(raw: Raw<'_>, lim: &Limits) -> Result<i64, ()> {
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
pub(crate) fn emp_length(raw: Raw<'_>, lim: &Limits) -> Result<Option<i64>, ()> {
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

pub(crate) fn category(
    raw: Raw<'_>,
    upper: bool,
    lim: &Limits,
) -> Result<Option<Inline<INLINE_TEXT>>, ()> {
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

pub(crate) struct Features<'a> {
    pub(crate) loan_id: &'a str,
    pub(crate) loan_amnt: f64,
    pub(crate) term_months: i64,
    pub(crate) int_rate: Option<f64>,
    pub(crate) annual_inc: Option<f64>,
    pub(crate) dti: Option<f64>,
    pub(crate) revol_util: Option<f64>,
    pub(crate) emp_length_years: Option<i64>,
    pub(crate) credit_history_months: Option<i64>,
    pub(crate) fico: Option<f64>,
    pub(crate) inq_last_6mths: Option<i64>,
    pub(crate) delinq_2yrs: Option<i64>,
    pub(crate) pub_rec: Option<i64>,
    pub(crate) home_ownership: Option<Inline<INLINE_TEXT>>,
    pub(crate) purpose: Option<Inline<INLINE_TEXT>>,
    pub(crate) event_time: Inline<32>,
    pub(crate) as_of: (i64, i64, bool), // features_as_of (year, month), and whether from issue_d
}

pub(crate) fn preprocess<'a>(raw: &[Raw<'a>; N_FIELDS], lim: &Limits) -> Result<Features<'a>, ()> {
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
