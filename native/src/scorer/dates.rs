//! The time fields: `event_time` as Python's `fromisoformat` reads it, the months of
//! `issue_d` and `earliest_cr_line`, and the as-of month features are measured at.

use super::fields::{equals_lowered, text, Raw};
use super::inline::Inline;
use super::limits::Limits;

/// The length of `event_time` as Python checks it (event_time() accepts no padding).
#[inline]
pub(crate) fn event_time_text_len(raw: Raw<'_>) -> usize {
    match raw {
        Raw::Str(s) => s.len(),
        _ => 0,
    }
}

/// `event_time` as Python's fromisoformat reads it, when already UTC:
/// (isoformat() text, year, month).
pub(crate) fn event_time(raw: Raw<'_>) -> Option<(Inline<32>, i64, i64)> {
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
pub(crate) fn month_parts(raw: Raw<'_>, lim: &Limits) -> Result<Option<(i64, i64, bool)>, ()> {
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
pub(crate) fn full_year(year: i64, two_digit: bool, reference_year: i64) -> i64 {
    match (two_digit, 2000 + year <= reference_year) {
        (false, _) => year,
        (true, true) => year + 2000,
        (true, false) => year + 1900,
    }
}

/// `features_as_of`: (year, month) of `issue_d` when present, else of `event_time`; and
/// whether it came from `issue_d`.
pub(crate) fn as_of(
    raw: Raw<'_>,
    at_year: i64,
    at_month: i64,
    lim: &Limits,
) -> Result<(i64, i64, bool), ()> {
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
pub(crate) fn credit_history(
    raw: Raw<'_>,
    as_of: (i64, i64),
    lim: &Limits,
) -> Result<Option<i64>, ()> {
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
