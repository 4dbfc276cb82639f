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

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(s: &str) -> Option<(String, i64, i64)> {
        event_time(Raw::Str(s)).map(|(t, y, m)| (t.as_str().to_owned(), y, m))
    }

    fn parts(s: &str) -> Result<Option<(i64, i64, bool)>, ()> {
        month_parts(Raw::Str(s), &Limits::python_defaults())
    }

    #[test]
    fn event_time_as_isoformat_writes_it() {
        let t = "2026-11-25T03:40:00.123456+00:00";
        assert_eq!(iso(t), Some((t.to_owned(), 2026, 11)));
        assert_eq!(
            iso("2026-11-25T03:40:00Z"),
            Some(("2026-11-25T03:40:00+00:00".into(), 2026, 11))
        );
        // isoformat() leaves out zero microseconds
        assert_eq!(
            iso("2026-01-01T00:00:00.000000Z").unwrap().0,
            "2026-01-01T00:00:00+00:00"
        );
        assert!(iso("2024-02-29T12:00:00Z").is_some()); // a leap day
        assert!(iso("2023-02-29T12:00:00Z").is_none());
        assert!(iso("1900-02-29T12:00:00Z").is_none()); // not a leap year
        assert!(iso("2026-13-01T00:00:00Z").is_none());
        assert!(iso("2026-01-01T24:00:00Z").is_none());
        assert!(iso("2026-01-01T00:00:00+01:00").is_none()); // another zone: Python converts it
        assert!(iso("2026-01-01T00:00:00").is_none()); // no zone: Python rejects it
        assert!(iso("2026-01-01 00:00:00Z").is_none()); // other separators: declined
        assert!(iso("2026-01-01T00:00:00.123Z").is_none()); // milliseconds: declined
        assert!(event_time(Raw::Null).is_none());
        assert_eq!(event_time_text_len(Raw::Str(" x ")), 3);
    }

    #[test]
    fn months_and_two_digit_years() {
        assert_eq!(parts("Apr-1997"), Ok(Some((1997, 4, false))));
        assert_eq!(parts("apr-97"), Ok(Some((97, 4, true))));
        assert_eq!(parts("DEC-05"), Ok(Some((5, 12, true))));
        assert_eq!(parts("1997-04"), Ok(Some((1997, 4, false))));
        assert_eq!(parts("1997-4-1"), Ok(Some((1997, 4, false))));
        assert_eq!(parts(" 2016-09-30 "), Ok(Some((2016, 9, false))));
        assert_eq!(parts(""), Ok(None));
        for bad in [
            "Foo-1997",
            "Apr-199",
            "Apr-1997x",
            "April-1997",
            "1997-13",
            "1997-00",
            "1997-04-32",
            "1997-04-00",
            "97-04",
            "1997-004",
            "1997/04",
            "1997-04-01-01",
        ] {
            assert_eq!(parts(bad), Err(()), "{bad:?}");
        }
        assert_eq!(full_year(97, true, 2016), 1997);
        assert_eq!(full_year(16, true, 2016), 2016); // at the reference year: this century
        assert_eq!(full_year(17, true, 2016), 1917);
        assert_eq!(full_year(1997, false, 2016), 1997);
    }

    #[test]
    fn as_of_month_and_credit_history() {
        let l = Limits::python_defaults();
        assert_eq!(as_of(Raw::Str("Sep-16"), 2026, 11, &l), Ok((2016, 9, true)));
        assert_eq!(as_of(Raw::Null, 2026, 11, &l), Ok((2026, 11, false)));
        assert_eq!(as_of(Raw::Str("Sep-30"), 2026, 11, &l), Ok((1930, 9, true)));
        assert_eq!(as_of(Raw::Str("1899-12"), 2026, 11, &l), Err(())); // before min_year
        assert_eq!(as_of(Raw::Str("Sep 2016"), 2026, 11, &l), Err(())); // present, unreadable
        let history = |s| credit_history(Raw::Str(s), (2016, 9), &l);
        assert_eq!(history("Apr-1997"), Ok(Some(19 * 12 + 5)));
        assert_eq!(history("Apr-97"), Ok(Some(19 * 12 + 5))); // 97 <= 16? no: 1997
        assert_eq!(history("Sep-16"), Ok(Some(0)));
        assert_eq!(history("Oct-2016"), Err(())); // after the as-of month
        assert_eq!(history("1899-01"), Err(()));
        assert_eq!(credit_history(Raw::Absent, (2016, 9), &l), Ok(None));
    }
}
