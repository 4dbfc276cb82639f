//! Rules: a rule set from Python, each rule a field, a test and its points.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyInt, PyString};

use super::features::Features;
use super::inline::Inline;

#[derive(Clone, Copy)]
pub(crate) enum Field {
    Num(fn(&Features) -> Option<f64>),
    Text(for<'a> fn(&'a Features<'_>) -> Option<&'a str>),
}

pub(crate) fn rule_field(name: &str) -> Option<Field> {
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
pub(crate) enum Value {
    Num(f64),
    Text(String),
}

pub(crate) enum Test {
    Missing(bool),
    Compare(fn(f64, f64) -> bool, f64),
    Between(f64, f64),
    Equals(Value),
    In(Vec<Value>),
}

pub(crate) struct Rule {
    pub(crate) field: Field,
    pub(crate) test: Test,
    pub(crate) points: i64,
}

impl Rule {
    #[inline]
    pub(crate) fn holds(&self, f: &Features) -> bool {
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
pub(crate) fn matches_value(field: Field, f: &Features, values: &[Value]) -> bool {
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
pub(crate) fn rule_value(value: &Bound<'_, PyAny>) -> PyResult<Value> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scorer::features::preprocess;
    use crate::scorer::fields::{
        Raw, F_ANNUAL_INC, F_EVENT_TIME, F_ID, F_LOAN_AMNT, F_TERM, N_FIELDS,
    };
    use crate::scorer::fields::{F_EMP_LENGTH, F_HOME};
    use crate::scorer::limits::Limits;

    fn holds(name: &str, test: Test, pairs: &[(usize, &str)]) -> bool {
        let mut raw = [Raw::Absent; N_FIELDS];
        raw[F_ID] = Raw::Str("1");
        raw[F_EVENT_TIME] = Raw::Str("2026-01-02T03:04:05Z");
        raw[F_LOAN_AMNT] = Raw::Str("1000");
        raw[F_TERM] = Raw::Str("36");
        for &(slot, value) in pairs {
            raw[slot] = Raw::Str(value);
        }
        let f = preprocess(&raw, &Limits::python_defaults()).unwrap();
        let rule = Rule {
            field: rule_field(name).unwrap(),
            test,
            points: 1,
        };
        rule.holds(&f)
    }

    #[test]
    fn comparisons_and_between() {
        let ge = |c| Test::Compare(|a, b| a >= b, c);
        assert!(holds("loan_amnt", ge(1000.0), &[]));
        assert!(!holds("loan_amnt", ge(1000.5), &[]));
        assert!(holds("term_months", Test::Compare(|a, b| a < b, 60.0), &[]));
        // a missing value never compares
        assert!(!holds("annual_inc", Test::Compare(|a, b| a < b, 1e12), &[]));
        // derived: annual_inc / loan_amnt
        assert!(holds(
            "income_to_loan",
            ge(50.0),
            &[(F_ANNUAL_INC, "50000")]
        ));
        assert!(!holds(
            "income_to_loan",
            ge(50.1),
            &[(F_ANNUAL_INC, "50000")]
        ));
        // between: low inclusive, high exclusive
        assert!(holds("loan_amnt", Test::Between(1000.0, 2000.0), &[]));
        assert!(!holds("loan_amnt", Test::Between(500.0, 1000.0), &[]));
    }

    #[test]
    fn missing_equals_and_in() {
        assert!(holds("annual_inc", Test::Missing(true), &[]));
        assert!(!holds("annual_inc", Test::Missing(false), &[]));
        assert!(holds(
            "emp_length_years",
            Test::Missing(true),
            &[(F_EMP_LENGTH, "n/a")]
        ));
        assert!(holds(
            "home_ownership",
            Test::Missing(false),
            &[(F_HOME, "own")]
        ));
        let text = |s: &str| Value::Text(s.into());
        // categories are compared after upper-casing home_ownership
        assert!(holds(
            "home_ownership",
            Test::Equals(text("OWN")),
            &[(F_HOME, "own")]
        ));
        assert!(!holds(
            "home_ownership",
            Test::Equals(text("own")),
            &[(F_HOME, "own")]
        ));
        assert!(holds("term_months", Test::Equals(Value::Num(36.0)), &[]));
        // Python: 36 == "36" is False; a number equals only numbers, text only text
        assert!(!holds("term_months", Test::Equals(text("36")), &[]));
        assert!(!holds(
            "home_ownership",
            Test::Equals(Value::Num(1.0)),
            &[(F_HOME, "1")]
        ));
        let values = vec![text("RENT"), text("MORTGAGE")];
        assert!(holds(
            "home_ownership",
            Test::In(values.clone()),
            &[(F_HOME, "Mortgage")]
        ));
        assert!(!holds(
            "home_ownership",
            Test::In(values.clone()),
            &[(F_HOME, "own")]
        ));
        assert!(!holds("home_ownership", Test::In(values), &[])); // missing: not in
        assert!(rule_field("loan_id").is_none()); // not a rule field
    }
}
