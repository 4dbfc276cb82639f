//! CSV (as Python's csv.writer with QUOTE_MINIMAL writes the row), and the row of one
//! scored event.

use super::batch::BatchScorer;
use super::features::preprocess;
use super::inline::Inline;
use super::json::scan_event;
use super::message::Meta;

#[inline]
pub(crate) fn csv_text(out: &mut Vec<u8>, s: &str) {
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
pub(crate) fn csv_quoted_body(out: &mut Vec<u8>, s: &str) {
    for c in s.bytes() {
        if c == b'"' {
            out.push(b'"');
        }
        out.push(c);
    }
}

#[inline]
pub(crate) fn csv_float(out: &mut Vec<u8>, v: Option<f64>) {
    if let Some(v) = v {
        // shortest round-trip digits, as Python's repr (Postgres reads both forms alike)
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    }
}

#[inline]
pub(crate) fn csv_int(out: &mut Vec<u8>, v: Option<i64>) {
    if let Some(v) = v {
        out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }
}

impl BatchScorer {
    /// One event as a CSV line appended to `out`; false declines it (the caller rewinds `out`).
    pub(crate) fn score_one(
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
