//! The fields scoring reads: each one's slot, its raw value as the JSON scanner found it,
//! and that value as text the way `_raw` sees it.

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
}

/// A field as `_raw` sees it: Ok(None) blank/null/absent, Ok(Some(text)) stripped text.
/// Err(()) declines: text outside printable ASCII (Python's strip, isprintable and regexes
/// are Unicode-aware; only ASCII is modelled here).
#[inline]
pub(crate) fn text(raw: Raw<'_>) -> Result<Option<&str>, ()> {
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

/// `word == t.lower()` for ASCII `t`, without allocating.
#[inline]
pub(crate) fn equals_lowered(word: &str, t: &str) -> bool {
    word.len() == t.len()
        && word
            .bytes()
            .zip(t.bytes())
            .all(|(w, c)| w == c.to_ascii_lowercase())
}
