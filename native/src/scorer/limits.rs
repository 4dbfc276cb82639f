//! `loanstream.scoring.limits.Limits`, as `Limits.native_spec()` hands it over: every
//! bound, cap and table parsing uses (none is a literal in this crate).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// `loanstream.scoring.limits.Limits`, as `Limits.native_spec()` hands it over.
pub(crate) struct Limits {
    pub(crate) max_numeric_chars: usize,
    pub(crate) max_text_chars: usize,
    pub(crate) max_short_chars: usize,
    pub(crate) max_abs_int: i128,     // JSON integers beyond are refused
    pub(crate) loan_amnt: (f64, f64), // low exclusive
    pub(crate) int_rate: (f64, f64),
    pub(crate) annual_inc: (f64, f64),
    pub(crate) dti: (f64, f64),
    pub(crate) revol_util: (f64, f64),
    pub(crate) fico: (f64, f64),
    pub(crate) count: (f64, f64),
    pub(crate) term_months: Vec<i64>,
    pub(crate) emp_length_cap: i64,
    pub(crate) emp_length_max: i64, // a numeric emp_length above is not a length in years
    pub(crate) emp_length_blanks: Vec<String>,
    pub(crate) min_year: i64,
    pub(crate) month_names: Vec<String>,
}

impl Limits {
    pub(crate) fn from_spec(spec: &Bound<'_, PyDict>) -> PyResult<Self> {
        let known = [
            "max_numeric_chars",
            "max_text_chars",
            "max_short_chars",
            "max_abs_int",
            "loan_amnt",
            "int_rate",
            "annual_inc",
            "dti",
            "revol_util",
            "fico",
            "count",
            "term_months",
            "emp_length_cap",
            "emp_length_max",
            "emp_length_blanks",
            "min_year",
            "month_names",
        ];
        for key in spec.keys() {
            let key: String = key.extract()?;
            if !known.contains(&key.as_str()) {
                return Err(PyValueError::new_err(format!(
                    "limit {key} is not modelled natively"
                )));
            }
        }
        fn get<'py, T: FromPyObject<'py>>(spec: &Bound<'py, PyDict>, key: &str) -> PyResult<T> {
            spec.get_item(key)?
                .ok_or_else(|| PyValueError::new_err(format!("limit {key} is missing")))?
                .extract()
        }
        let range = |key: &str| -> PyResult<(f64, f64)> {
            let pair: Vec<f64> = get(spec, key)?;
            match pair.as_slice() {
                [low, high] => Ok((*low, *high)),
                _ => Err(PyValueError::new_err(format!(
                    "limit {key} is not a (low, high) pair"
                ))),
            }
        };
        let min_year: i64 = get(spec, "min_year")?;
        if min_year < 1000 {
            // features_as_of is written with 4-digit years, as date.isoformat() writes these
            return Err(PyValueError::new_err(
                "limit min_year below 1000 is not modelled natively",
            ));
        }
        Ok(Limits {
            max_numeric_chars: get(spec, "max_numeric_chars")?,
            max_text_chars: get(spec, "max_text_chars")?,
            max_short_chars: get(spec, "max_short_chars")?,
            max_abs_int: get(spec, "max_abs_int")
                .map_err(|_| PyValueError::new_err("limit max_abs_int is not modelled natively"))?,
            loan_amnt: range("loan_amnt")?,
            int_rate: range("int_rate")?,
            annual_inc: range("annual_inc")?,
            dti: range("dti")?,
            revol_util: range("revol_util")?,
            fico: range("fico")?,
            count: range("count")?,
            term_months: get(spec, "term_months")?,
            emp_length_cap: get(spec, "emp_length_cap")?,
            emp_length_max: get(spec, "emp_length_max")?,
            emp_length_blanks: get(spec, "emp_length_blanks")?,
            min_year,
            month_names: get(spec, "month_names")?,
        })
    }
}

#[cfg(test)]
impl Limits {
    /// `loanstream.scoring.limits.Limits()`: the defaults Python parses with.
    pub(crate) fn python_defaults() -> Self {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect();
        Limits {
            max_numeric_chars: 64,
            max_text_chars: 64,
            max_short_chars: 32,
            max_abs_int: 1_000_000_000_000_000,
            loan_amnt: (0.0, 1e9),
            int_rate: (0.0, 100.0),
            annual_inc: (0.0, 1e12),
            dti: (0.0, 10_000.0),
            revol_util: (0.0, 10_000.0),
            fico: (300.0, 850.0),
            count: (0.0, 1000.0),
            term_months: vec![36, 60],
            emp_length_cap: 10,
            emp_length_max: 99,
            emp_length_blanks: words(&["n/a", "na", "none"]),
            min_year: 1900,
            month_names: words(&[
                "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
            ]),
        }
    }
}
