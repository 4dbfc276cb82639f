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
    let value = if let Raw::Num(t) = raw {
        json_float(t, lim)? // a typed event's number: no length or % (Python: to_float)
    } else {
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
        number(t).ok_or(())?
    };
    if low <= value && value <= high {
        Ok(Some(value))
    } else {
        Err(())
    }
}

/// `_count`: a whole number within `count` ("1.0" and 1.0 included, 1.5 not).
pub(crate) fn opt_count(raw: Raw<'_>, lim: &Limits) -> Result<Option<i64>, ()> {
    match opt_float(raw, lim.count, false, lim)? {
        None => Ok(None),
        Some(v) if v.fract() == 0.0 => Ok(Some(v as i64)),
        Some(_) => Err(()),
    }
}

/// `term_months` of a JSON number: an int as is, a float when whole (no `max_abs_int`).
fn term_number(t: &str) -> Result<i64, ()> {
    match json_number(t).ok_or(())? {
        Number::Int(m) => Ok(m),
        // whole and exact as i64 (a term beyond 2^53 is in no term table: declined)
        Number::Float(v) if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 => Ok(v as i64),
        Number::Float(_) => Err(()), // Python: cannot parse as a term in months
    }
}

/// `_TERM_RE` = `(\d{1,3})\s*(?:months?)?` (ignoring case), or a JSON number
/// (`term_months`); then one of `term_months`.
pub(crate) fn term(raw: Raw<'_>, lim: &Limits) -> Result<i64, ()> {
    if let Raw::Num(t) = raw {
        let m = term_number(t)?;
        return if lim.term_months.contains(&m) {
            Ok(m)
        } else {
            Err(())
        };
    }
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

/// `employment_years`: a blank word (n/a) -> None;
/// `(<\s*)?(\d{1,2})\s*(\+)?\s*(?:years?|yrs?)?` -> years, or a whole JSON number; capped.
pub(crate) fn emp_length(raw: Raw<'_>, lim: &Limits) -> Result<Option<i64>, ()> {
    if let Raw::Num(t) = raw {
        // `employment_years` of a number: whole, 0..=emp_length_max, then capped
        let years = json_float(t, lim)?;
        if years.fract() != 0.0 || !(0.0 <= years && years <= lim.emp_length_max as f64) {
            return Err(());
        }
        return Ok(Some((years as i64).min(lim.emp_length_cap)));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn lim() -> Limits {
        Limits::python_defaults()
    }

    #[test]
    fn term_forms() {
        let term = |s| term(Raw::Str(s), &lim());
        assert_eq!(term(" 36 months"), Ok(36));
        assert_eq!(term("60 Months"), Ok(60));
        assert_eq!(term("36month"), Ok(36));
        assert_eq!(term("60"), Ok(60));
        assert_eq!(term("  36  "), Ok(36)); // stripped
        assert_eq!(term("48 months"), Err(())); // not one of term_months
        assert_eq!(term("036 months"), Ok(36)); // \d{1,3}, then int("036")
        assert_eq!(term("0036"), Err(())); // \d{1,3}
        assert_eq!(term("36 mo"), Err(()));
        assert_eq!(term("months"), Err(()));
        assert_eq!(term("36\tmonths"), Err(())); // a tab: declined (Python's \s is Unicode)
        assert_eq!(super::term(Raw::Null, &lim()), Err(())); // required
        assert_eq!(super::term(Raw::Absent, &lim()), Err(()));
    }

    #[test]
    fn emp_length_forms() {
        let emp = |s| emp_length(Raw::Str(s), &lim());
        assert_eq!(emp("10+ years"), Ok(Some(10)));
        assert_eq!(emp("< 1 year"), Ok(Some(0)));
        assert_eq!(emp("<1"), Ok(Some(0)));
        assert_eq!(emp("3 years"), Ok(Some(3)));
        assert_eq!(emp("1 yr"), Ok(Some(1)));
        assert_eq!(emp("2YRS"), Ok(Some(2)));
        assert_eq!(emp("5 +"), Ok(Some(5)));
        assert_eq!(emp("12 years"), Ok(Some(10))); // capped at emp_length_cap
        assert_eq!(emp("n/a"), Ok(None));
        assert_eq!(emp("N/A"), Ok(None));
        assert_eq!(emp(" None "), Ok(None));
        assert_eq!(emp("   "), Ok(None));
        assert_eq!(emp_length(Raw::Null, &lim()), Ok(None));
        assert_eq!(emp("100 years"), Err(())); // \d{1,2}
        assert_eq!(emp("ten years"), Err(()));
        assert_eq!(emp("3 decades"), Err(()));
        assert_eq!(emp("3 years old"), Err(()));
    }

    #[test]
    fn numbers_in_odd_forms() {
        assert_eq!(number("11.53"), Some(11.53));
        assert_eq!(number("+5"), Some(5.0));
        assert_eq!(number("-0.5"), Some(-0.5));
        assert_eq!(number(".5"), Some(0.5));
        assert_eq!(number("5."), Some(5.0));
        assert_eq!(number("1e3"), Some(1000.0));
        assert_eq!(number("1E-2"), Some(0.01));
        assert_eq!(number("1e999"), None); // inf: not finite
        assert_eq!(number("1e1000"), None); // 4 exponent digits
        for bad in [
            "", ".", "+", "e5", "1e", "1_000", "1,000", "nan", "inf", "0x10", "1.2.3",
        ] {
            assert_eq!(number(bad), None, "{bad:?}");
        }
        let l = lim();
        let rate = |s| opt_float(Raw::Str(s), l.int_rate, true, &l);
        assert_eq!(rate("11.53%"), Ok(Some(11.53)));
        assert_eq!(rate(" 11.53 % "), Ok(Some(11.53))); // Python: text[:-1].rstrip()
        assert_eq!(rate("%"), Err(()));
        assert_eq!(rate("100.5"), Err(())); // outside [0, 100]
        assert_eq!(rate(""), Ok(None));
        assert_eq!(opt_float(Raw::Str("5%"), l.dti, false, &l), Err(())); // % only on rates
        assert_eq!(opt_float(Raw::Str("-1"), l.annual_inc, false, &l), Err(()));
        let long = format!("1{}", "0".repeat(64)); // over max_numeric_chars
        assert_eq!(
            opt_float(Raw::Str(&long), (f64::MIN, f64::MAX), false, &l),
            Err(())
        );
        assert_eq!(opt_count(Raw::Str("1.0"), &l), Ok(Some(1)));
        assert_eq!(opt_count(Raw::Str("2"), &l), Ok(Some(2)));
        assert_eq!(opt_count(Raw::Str("1.5"), &l), Err(()));
        assert_eq!(opt_count(Raw::Str("1001"), &l), Err(()));
        assert_eq!(opt_count(Raw::Null, &l), Ok(None));
    }

    #[test]
    fn categories() {
        fn cat(s: &str, upper: bool) -> Result<Option<String>, ()> {
            category(Raw::Str(s), upper, &lim()).map(|c| c.map(|c| c.as_str().to_owned()))
        }
        assert_eq!(cat(" Rent ", true), Ok(Some("RENT".into())));
        assert_eq!(
            cat("Debt_Consolidation", false),
            Ok(Some("debt_consolidation".into()))
        );
        assert_eq!(cat("  ", true), Ok(None));
        assert_eq!(cat(&"a".repeat(64), false), Ok(Some("a".repeat(64))));
        assert_eq!(cat(&"a".repeat(65), false), Err(())); // over max_text_chars
        assert_eq!(cat("café", false), Err(())); // not ASCII: declined
        assert_eq!(cat("a\tb", false), Err(())); // not printable
    }

    fn event<'a>(pairs: &[(usize, &'a str)]) -> [Raw<'a>; N_FIELDS] {
        let mut raw = [Raw::Absent; N_FIELDS];
        for &(slot, value) in pairs {
            raw[slot] = Raw::Str(value);
        }
        raw
    }

    #[test]
    fn preprocess_an_event() {
        let raw = event(&[
            (F_ID, " 42 "),
            (F_EVENT_TIME, "2026-11-25T03:40:00.123456+00:00"),
            (F_LOAN_AMNT, "10000"),
            (F_TERM, " 36 months"),
            (F_INT_RATE, "11.53%"),
            (F_ANNUAL_INC, "65000"),
            (F_EMP_LENGTH, "10+ years"),
            (F_EARLIEST_CR_LINE, "Apr-1997"),
            (F_ISSUE_D, "Sep-2016"),
            (F_FICO_LOW, "700"),
            (F_FICO_HIGH, "704"),
            (F_INQ, "1.0"),
            (F_HOME, "rent"),
            (F_PURPOSE, "Car"),
        ]);
        let f = preprocess(&raw, &lim()).unwrap();
        assert_eq!(f.loan_id, "42");
        assert_eq!(f.loan_amnt, 10000.0);
        assert_eq!(f.term_months, 36);
        assert_eq!(f.int_rate, Some(11.53));
        assert_eq!(f.annual_inc, Some(65000.0));
        assert_eq!(f.dti, None);
        assert_eq!(f.emp_length_years, Some(10));
        assert_eq!(f.as_of, (2016, 9, true));
        assert_eq!(f.credit_history_months, Some((2016 - 1997) * 12 + (9 - 4)));
        assert_eq!(f.fico, Some(702.0));
        assert_eq!(f.inq_last_6mths, Some(1));
        assert_eq!(f.delinq_2yrs, None);
        assert_eq!(f.home_ownership.unwrap().as_str(), "RENT");
        assert_eq!(f.purpose.unwrap().as_str(), "car");
        assert_eq!(f.event_time.as_str(), "2026-11-25T03:40:00.123456+00:00");
    }

    #[test]
    fn preprocess_declines_what_python_rejects() {
        let base = [
            (F_ID, "1"),
            (F_EVENT_TIME, "2026-01-02T03:04:05Z"),
            (F_LOAN_AMNT, "500"),
            (F_TERM, "60"),
        ];
        let f = preprocess(&event(&base), &lim()).unwrap();
        assert_eq!(f.as_of, (2026, 1, false)); // no issue_d: event_time's month
        assert_eq!(f.fico, None);
        let with = |extra: &[(usize, &'static str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            preprocess(&event(&pairs), &lim()).map(|f| f.fico)
        };
        assert_eq!(with(&[(F_FICO_HIGH, "710")]), Ok(Some(710.0))); // whichever is present
        assert_eq!(with(&[(F_FICO_LOW, "720"), (F_FICO_HIGH, "710")]), Err(())); // low > high
        assert_eq!(with(&[(F_FICO_LOW, "299")]), Err(())); // outside [300, 850]
        assert_eq!(with(&[(F_LOAN_AMNT, "0")]), Err(())); // a loan is > 0
        assert_eq!(with(&[(F_ID, "  ")]), Err(())); // loan id required
        assert_eq!(with(&[(F_ISSUE_D, "Sep-16x")]), Err(()));
        let mut no_time = event(&base);
        no_time[F_EVENT_TIME] = Raw::Null;
        assert!(preprocess(&no_time, &lim()).is_err());
    }
}
