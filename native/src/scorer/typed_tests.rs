//! Typed `loan_application` events (JSON numbers, ISO months): read exactly as Python's
//! `scoring/forms.py` reads them, or declined (Err / None), never read differently.

use super::features::{emp_length, opt_count, opt_float, preprocess, term};
use super::fields::*;
use super::json::scan_event;
use super::limits::Limits;

fn lim() -> Limits {
    Limits::python_defaults()
}

fn num(t: &str) -> Raw<'_> {
    Raw::Num(t)
}

#[test]
fn json_numbers_as_orjson_reads_them() {
    assert_eq!(json_number("5000"), Some(Number::Int(5000)));
    assert_eq!(json_number("-0"), Some(Number::Int(0))); // orjson: the int 0
    assert_eq!(json_number("5000.0"), Some(Number::Float(5000.0)));
    assert_eq!(json_number("10.75"), Some(Number::Float(10.75)));
    assert_eq!(json_number("0.1"), Some(Number::Float(0.1)));
    assert_eq!(
        json_number("999999999999999999"),
        Some(Number::Int(999_999_999_999_999_999))
    );
    // declined: Python reads them, but not in a form worth modelling
    assert_eq!(json_number("1000000000000000000"), None); // 19 digits
    assert_eq!(json_number("18446744073709551616"), None); // orjson: a float
    assert_eq!(json_number("1e3"), None);
    assert_eq!(json_number("1.5E-7"), None);
    assert_eq!(json_number("-0.0"), None); // negative zero
    let l = lim();
    assert_eq!(json_float("1000000000000000", &l), Ok(1e15)); // max_abs_int itself
    assert_eq!(json_float("1000000000000001", &l), Err(())); // Python: out of range
    assert_eq!(json_float("-1000000000000001", &l), Err(()));
    assert_eq!(json_float("9007199254740993.0", &l), Ok(9007199254740992.0)); // rounded
}

#[test]
fn typed_numbers_within_their_bounds() {
    let l = lim();
    let rate = |t| opt_float(num(t), l.int_rate, true, &l);
    assert_eq!(rate("10.75"), Ok(Some(10.75)));
    assert_eq!(rate("10"), Ok(Some(10.0))); // float(int)
    assert_eq!(rate("0"), Ok(Some(0.0)));
    assert_eq!(rate("-0"), Ok(Some(0.0)));
    assert_eq!(rate("100.5"), Err(())); // outside [0, 100]
    assert_eq!(rate("-0.5"), Err(()));
    let fico = |t| opt_float(num(t), l.fico, false, &l);
    assert_eq!(fico("675.0"), Ok(Some(675.0)));
    assert_eq!(fico("299.99"), Err(()));
    // a long number is no longer refused by max_numeric_chars: that bounds text only
    let long = format!("1{}.5", "0".repeat(5));
    assert_eq!(
        opt_float(
            num(&long),
            l.annual_inc,
            false,
            &Limits {
                max_numeric_chars: 4,
                ..lim()
            }
        ),
        Ok(Some(100000.5))
    );
}

#[test]
fn typed_counts_are_whole() {
    let l = lim();
    let count = |t| opt_count(num(t), &l);
    assert_eq!(count("1"), Ok(Some(1)));
    assert_eq!(count("0"), Ok(Some(0)));
    assert_eq!(count("3.0"), Ok(Some(3)));
    assert_eq!(count("1.5"), Err(())); // Python: is not a whole number
    assert_eq!(count("-1"), Err(()));
    assert_eq!(count("1001"), Err(())); // outside count
    assert_eq!(opt_count(Raw::Null, &l), Ok(None));
}

#[test]
fn typed_terms() {
    let l = lim();
    assert_eq!(term(num("36"), &l), Ok(36));
    assert_eq!(term(num("60.0"), &l), Ok(60)); // a whole float
    assert_eq!(term(num("36.5"), &l), Err(()));
    assert_eq!(term(num("48"), &l), Err(())); // not one of term_months
    assert_eq!(term(num("-36"), &l), Err(()));
    assert_eq!(term(num("1e300"), &l), Err(())); // an exponent: declined
    let wide = Limits {
        term_months: vec![36, 60, 84],
        ..lim()
    };
    assert_eq!(term(num("84"), &wide), Ok(84));
}

#[test]
fn typed_employment_lengths() {
    let l = lim();
    let emp = |t| emp_length(num(t), &l);
    assert_eq!(emp("7"), Ok(Some(7)));
    assert_eq!(emp("0"), Ok(Some(0)));
    assert_eq!(emp("10"), Ok(Some(10)));
    assert_eq!(emp("12"), Ok(Some(10))); // capped at emp_length_cap
    assert_eq!(emp("99"), Ok(Some(10))); // emp_length_max
    assert_eq!(emp("100"), Err(())); // above emp_length_max: not a length in years
    assert_eq!(emp("3.0"), Ok(Some(3)));
    assert_eq!(emp("3.5"), Err(()));
    assert_eq!(emp("-1"), Err(()));
    assert_eq!(emp_length(Raw::Null, &l), Ok(None));
    let strict = Limits {
        emp_length_max: 5,
        ..lim()
    };
    assert_eq!(emp_length(num("6"), &strict), Err(()));
}

fn typed_and_untyped() -> (&'static [u8], &'static [u8]) {
    (
        br#"{"id":"42","loan_amnt":10000.0,"term":36,"int_rate":11.53,"installment":329.48,"grade":"B","emp_length":10,"home_ownership":"RENT","annual_inc":65000.0,"issue_d":"2016-09","purpose":"car","dti":18.5,"delinq_2yrs":1,"earliest_cr_line":"1997-04","fico_range_low":700.0,"fico_range_high":704.0,"inq_last_6mths":0,"pub_rec":3,"revol_bal":12000.0,"revol_util":45.2,"tot_cur_bal":1e20,"mths_since_last_delinq":null,"event_time":"2026-11-25T03:40:00.123456+00:00"}"#,
        br#"{"id":"42","loan_amnt":"10000","term":" 36 months","int_rate":"11.53%","installment":"329.48","grade":"B","emp_length":"10+ years","home_ownership":"RENT","annual_inc":"65000","issue_d":"Sep-2016","purpose":"car","dti":"18.5","delinq_2yrs":"1.0","earliest_cr_line":"Apr-1997","fico_range_low":"700","fico_range_high":"704","inq_last_6mths":"0","pub_rec":"3","revol_bal":"12000","revol_util":"45.2%","tot_cur_bal":"1e20","mths_since_last_delinq":"","event_time":"2026-11-25T03:40:00.123456+00:00"}"#,
    )
}

#[test]
fn a_typed_event_has_the_features_of_its_text() {
    let (typed, untyped) = typed_and_untyped();
    let l = lim();
    let (mut q1, mut q2) = (Vec::new(), Vec::new());
    let (raw_t, raw_u) = (
        scan_event(typed, &mut q1).unwrap(),
        scan_event(untyped, &mut q2).unwrap(),
    );
    let (t, u) = (
        preprocess(&raw_t, &l).unwrap(),
        preprocess(&raw_u, &l).unwrap(),
    );
    assert_eq!(t.loan_id, u.loan_id);
    assert_eq!(t.loan_amnt.to_bits(), u.loan_amnt.to_bits());
    assert_eq!(t.term_months, u.term_months);
    for (a, b) in [
        (t.int_rate, u.int_rate),
        (t.annual_inc, u.annual_inc),
        (t.dti, u.dti),
        (t.revol_util, u.revol_util),
        (t.fico, u.fico),
    ] {
        assert_eq!(a.map(f64::to_bits), b.map(f64::to_bits));
    }
    assert_eq!(t.emp_length_years, Some(10));
    assert_eq!(t.emp_length_years, u.emp_length_years);
    assert_eq!(t.as_of, (2016, 9, true));
    assert_eq!(t.as_of, u.as_of);
    assert_eq!(t.credit_history_months, u.credit_history_months);
    assert_eq!(
        (t.inq_last_6mths, t.delinq_2yrs, t.pub_rec),
        (Some(0), Some(1), Some(3))
    );
    assert_eq!(
        (u.inq_last_6mths, u.delinq_2yrs, u.pub_rec),
        (Some(0), Some(1), Some(3))
    );
}

#[test]
fn typed_values_python_refuses_or_reads_otherwise_are_declined() {
    let (typed, _) = typed_and_untyped();
    let text = std::str::from_utf8(typed).unwrap();
    let l = lim();
    for (from, to) in [
        (r#""id":"42""#, r#""id":42"#), // Python: str(42); left to it
        (r#""issue_d":"2016-09""#, r#""issue_d":201609"#), // a month as a number
        (r#""purpose":"car""#, r#""purpose":1"#), // a category as a number
        (r#""event_time":"2026"#, r#""event_time":1,"x":"2026"#),
        (r#""term":36"#, r#""term":true"#), // a bool: refused
        (r#""loan_amnt":10000.0"#, r#""loan_amnt":1e4"#), // an exponent
        (r#""loan_amnt":10000.0"#, r#""loan_amnt":-0.0"#),
        (r#""loan_amnt":10000.0"#, r#""loan_amnt":0"#), // a loan is > 0
        (r#""pub_rec":3"#, r#""pub_rec":1.5"#),
        (r#""emp_length":10"#, r#""emp_length":100"#),
        (r#""tot_cur_bal":1e20"#, r#""tot_cur_bal":1e999"#), // orjson refuses infinity
    ] {
        assert!(text.contains(from), "{from}");
        let event = text.replacen(from, to, 1);
        let raw = scan_event(event.as_bytes(), &mut Vec::new());
        assert!(
            raw.is_none_or(|raw| preprocess(&raw, &l).is_err()),
            "{to} was accepted"
        );
    }
}
