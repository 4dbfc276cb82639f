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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scorer::limits::Limits;
    use crate::scorer::rules::{rule_field, Rule, Test, Value};

    fn cell(write: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        write(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_cells_as_python_csv_writer_writes_them() {
        assert_eq!(cell(|o| csv_text(o, "plain text")), "plain text");
        assert_eq!(cell(|o| csv_text(o, "a,b")), r#""a,b""#);
        assert_eq!(cell(|o| csv_text(o, r#"say "hi""#)), r#""say ""hi""""#);
        assert_eq!(cell(|o| csv_text(o, "two\nlines")), "\"two\nlines\"");
        assert_eq!(cell(|o| csv_text(o, "cr\r")), "\"cr\r\"");
        assert_eq!(cell(|o| csv_quoted_body(o, r#""A""#)), r#"""A"""#);
        assert_eq!(cell(|o| csv_float(o, Some(10000.0))), "10000.0"); // repr(10000.0)
        assert_eq!(cell(|o| csv_float(o, Some(11.53))), "11.53");
        assert_eq!(
            cell(|o| csv_float(o, Some(0.1 + 0.2))),
            "0.30000000000000004"
        );
        assert_eq!(cell(|o| csv_float(o, None)), "");
        assert_eq!(cell(|o| csv_int(o, Some(-42))), "-42");
        assert_eq!(cell(|o| csv_int(o, None)), "");
    }

    fn scorer(as_of_columns: bool) -> BatchScorer {
        let rule = |name, test, points| Rule {
            field: rule_field(name).unwrap(),
            test,
            points,
        };
        BatchScorer {
            rules: vec![
                rule("int_rate", Test::Compare(|a, b| a >= b, 10.0), 20),
                rule("dti", Test::Missing(true), 5),
                rule(
                    "home_ownership",
                    Test::Equals(Value::Text("RENT".into())),
                    30,
                ),
                rule("fico", Test::Between(600.0, 700.0), 40),
            ],
            ranked: vec![3, 2, 0, 1],
            reasons_json: ["\"HIGH_RATE\"", "\"NO_DTI\"", "\"RENTS\"", "\"FICO\""]
                .map(String::from)
                .to_vec(),
            bands: (0..=100)
                .map(|s| if s < 50 { "low" } else { "high, very" }.into())
                .collect(),
            decisions: (0..=100)
                .map(|s| if s < 50 { "approve" } else { "review" }.into())
                .collect(),
            version: "v1".into(),
            limits: Limits::python_defaults(),
            as_of_columns,
            schema_ids: Default::default(),
        }
    }

    fn row(scorer: &BatchScorer, event: &str) -> Option<(String, Vec<u64>)> {
        let meta = Meta {
            topic: "loan-applications".into(),
            partition: 2,
            offset: 17,
            run_id: Some("manual__1".into()),
        };
        let (mut out, mut hits, mut counts) = (Vec::new(), vec![false; 4], vec![0u64; 101]);
        let ok = scorer.score_one(
            event.as_bytes(),
            &meta,
            &mut Vec::new(),
            &mut out,
            &mut hits,
            &mut counts,
        );
        ok.then(|| (String::from_utf8(out).unwrap(), counts))
    }

    #[test]
    fn one_event_one_row() {
        let event = r#"{"id":"9","event_time":"2026-11-25T03:40:00Z","loan_amnt":"1000","term":" 36 months","int_rate":"12.5%","fico_range_low":"650","fico_range_high":"654","home_ownership":"rent","purpose":"car","issue_d":"Sep-2016"}"#;
        let (line, counts) = row(&scorer(false), event).unwrap();
        // 20 + 5 + 30 + 40 = 95; reasons by points descending
        assert_eq!(
            line,
            "9,1000.0,36,12.5,,,,,,652.0,,,,RENT,car,95,\"high, very\",review,\
             \"[\"\"FICO\"\",\"\"RENTS\"\",\"\"HIGH_RATE\"\",\"\"NO_DTI\"\"]\",v1,\
             2026-11-25T03:40:00+00:00,manual__1,loan-applications,2,17\n"
        );
        assert_eq!(counts[95], 1);
        let (line, _) = row(&scorer(true), event).unwrap();
        assert!(line.contains(",RENT,car,2016-09-01,issue_d,95,"), "{line}");
    }

    #[test]
    fn a_row_with_no_hits_and_declined_events() {
        let event = r#"{"id":"1","event_time":"2026-01-02T03:04:05Z","loan_amnt":"500","term":"60","dti":"3"}"#;
        let (line, counts) = row(&scorer(true), event).unwrap();
        assert!(line.starts_with("1,500.0,60,,,3.0,"), "{line}");
        assert!(
            line.contains(",2026-01-01,event_time,0,low,approve,\"[]\",v1,"),
            "{line}"
        );
        assert_eq!(counts[0], 1);
        assert!(row(&scorer(false), r#"{"id":"1"}"#).is_none()); // Python's to judge
        assert!(row(&scorer(false), "not json").is_none());
    }

    #[test]
    fn a_framed_event_of_an_accepted_id_makes_the_row_of_its_json() {
        use crate::scorer::framing::event_json;
        use std::collections::HashSet;

        let event = r#"{"id":"9","event_time":"2026-11-25T03:40:00Z","loan_amnt":1000.0,"term":36,"int_rate":12.5,"fico_range_low":650,"fico_range_high":654,"home_ownership":"RENT","purpose":"car","issue_d":"2016-09"}"#;
        let mut framed = vec![0u8, 0, 0, 0, 42];
        framed.extend_from_slice(event.as_bytes());
        let accepted = HashSet::from([42u32]);
        let json = event_json(&framed, &accepted).unwrap();
        let as_text = |v: &[u8]| String::from_utf8(v.to_vec()).unwrap();
        let scorer = scorer(true);
        assert_eq!(row(&scorer, &as_text(json)), row(&scorer, event));
        assert!(row(&scorer, event).is_some());
        assert!(event_json(&framed, &HashSet::from([41u32])).is_none());
    }
}
