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
