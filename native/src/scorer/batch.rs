//! The Python API: `BatchScorer`, a compiled rule set that scores batches of messages.

use std::collections::HashSet;
use std::sync::RwLock;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use super::framing::event_json;
use super::limits::Limits;
use super::message::{read_meta, Meta};
use super::rules::{rule_field, rule_value, Field, Rule, Test, Value};

/// A compiled rule set that scores batches of Kafka messages into `risk_scored` CSV lines.
#[pyclass(frozen, module = "loanstream._scoring_and_encoding")]
pub(crate) struct BatchScorer {
    pub(crate) rules: Vec<Rule>,
    pub(crate) ranked: Vec<usize>, // rule indices by points descending, file order among equals
    pub(crate) reasons_json: Vec<String>, // each rule's code as a JSON string (orjson.dumps(code))
    pub(crate) bands: Vec<String>, // band of each score 0..=100
    pub(crate) decisions: Vec<String>, // decision of each score 0..=100
    pub(crate) version: String,
    pub(crate) limits: Limits,
    pub(crate) as_of_columns: bool, // write features_as_of, features_as_of_basis after purpose
    pub(crate) schema_ids: RwLock<HashSet<u32>>, // framed values read with these ids (from Python)
}

#[pymethods]
impl BatchScorer {
    /// `rules`: (field, op, value, points, code as JSON) per rule, in file order; `bands` and
    /// `decisions`: the band and decision of each score 0..100; `limits`:
    /// `Limits.native_spec()`. Raises ValueError for any rule or limit this evaluator does not
    /// model exactly as Python does. `as_of_columns`: the rows also hold `features_as_of` and
    /// `features_as_of_basis`, right after `purpose` (when the sink's columns do).
    #[new]
    #[pyo3(signature = (rules, bands, decisions, version, limits, as_of_columns = false))]
    fn new(
        rules: &Bound<'_, PyList>,
        bands: Vec<String>,
        decisions: Vec<String>,
        version: String,
        limits: &Bound<'_, PyDict>,
        as_of_columns: bool,
    ) -> PyResult<Self> {
        let limits = Limits::from_spec(limits)?;
        if bands.len() != 101 || decisions.len() != 101 {
            return Err(PyValueError::new_err(
                "bands and decisions need one entry per score 0..100",
            ));
        }
        let mut parsed = Vec::new();
        let mut reasons_json = Vec::new();
        let mut points_of = Vec::new();
        for item in rules.iter() {
            let item = item.downcast::<PyTuple>()?;
            let name: String = item.get_item(0)?.extract()?;
            let op: String = item.get_item(1)?.extract()?;
            let value = item.get_item(2)?;
            let points: i64 = item.get_item(3)?.extract()?;
            let code_json: String = item.get_item(4)?.extract()?;
            if points.unsigned_abs() > 1_000_000 {
                return Err(PyValueError::new_err(
                    "rule points out of the modelled range",
                ));
            }
            let field = rule_field(&name)
                .ok_or_else(|| PyValueError::new_err(format!("unknown rule field {name}")))?;
            let numeric = |v: Value| match v {
                Value::Num(n) => Ok(n),
                Value::Text(_) => Err(PyValueError::new_err("text compared with < or >")),
            };
            let test = match (op.as_str(), field) {
                ("missing", _) => Test::Missing(value.is_truthy()?),
                ("<" | "<=" | ">" | ">=", Field::Num(_)) => {
                    let op: fn(f64, f64) -> bool = match op.as_str() {
                        "<" => |a, b| a < b,
                        "<=" => |a, b| a <= b,
                        ">" => |a, b| a > b,
                        _ => |a, b| a >= b,
                    };
                    Test::Compare(op, numeric(rule_value(&value)?)?)
                }
                ("between", Field::Num(_)) => {
                    let pair = value.downcast::<PyTuple>()?;
                    if pair.len() != 2 {
                        return Err(PyValueError::new_err("between needs two values"));
                    }
                    Test::Between(
                        numeric(rule_value(&pair.get_item(0)?)?)?,
                        numeric(rule_value(&pair.get_item(1)?)?)?,
                    )
                }
                ("==", _) => Test::Equals(rule_value(&value)?),
                ("in", _) => {
                    let mut values = Vec::new();
                    for v in value.try_iter()? {
                        values.push(rule_value(&v?)?);
                    }
                    Test::In(values)
                }
                _ => {
                    return Err(PyValueError::new_err(format!(
                        "rule op {op} on {name} is not modelled"
                    )))
                }
            };
            parsed.push(Rule {
                field,
                test,
                points,
            });
            reasons_json.push(code_json);
            points_of.push(points);
        }
        let mut ranked: Vec<usize> = (0..parsed.len()).collect();
        ranked.sort_by_key(|&i| -points_of[i]); // stable, as Python's sort
        Ok(BatchScorer {
            rules: parsed,
            ranked,
            reasons_json,
            bands,
            decisions,
            version,
            limits,
            as_of_columns,
            schema_ids: RwLock::new(HashSet::new()),
        })
    }

    /// Read framed values (Confluent's wire format) with these schema ids from now on: ids
    /// Python resolved to versions of the `loan_application` contract. A framed value with
    /// any other id is declined (Python resolves it, then scores it or dead-letters it).
    fn accept_schema_ids(&self, ids: Vec<u32>) {
        let mut accepted = self.schema_ids.write().unwrap_or_else(|e| e.into_inner());
        accepted.extend(ids);
    }

    /// The schema ids whose framed values are read here, ascending.
    fn accepted_schema_ids(&self) -> Vec<u32> {
        let accepted = self.schema_ids.read().unwrap_or_else(|e| e.into_inner());
        let mut ids: Vec<u32> = accepted.iter().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Score `messages` (confluent_kafka.Message). Returns (CSV lines for the scored ones,
    /// indices of the declined ones, count of rows per risk_score 0..100). The GIL is held
    /// only to read the messages: parsing, scoring and CSV run without it, so the sink's
    /// writer thread can drive Postgres meanwhile.
    fn score<'py>(
        &self,
        py: Python<'py>,
        messages: &Bound<'py, PyList>,
    ) -> PyResult<(Bound<'py, PyBytes>, Vec<usize>, Vec<u64>)> {
        let mut values: Vec<Bound<'py, PyBytes>> = Vec::with_capacity(messages.len());
        let mut metas: Vec<Option<Meta>> = Vec::with_capacity(messages.len());
        for msg in messages.iter() {
            let meta = read_meta(&msg)?;
            match meta {
                Some((value, meta)) => {
                    values.push(value);
                    metas.push(Some(meta));
                }
                None => metas.push(None),
            }
        }
        let slices: Vec<&[u8]> = values.iter().map(|v| v.as_bytes()).collect();
        let accepted = self
            .schema_ids
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone(); // a few ids: read once per batch, no lock while scoring
        let (out, declined, score_counts) = py.allow_threads(|| {
            let mut out: Vec<u8> = Vec::with_capacity(metas.len() * 320);
            let mut declined = Vec::new();
            let mut score_counts = vec![0u64; 101];
            let mut hits = vec![false; self.rules.len()];
            let mut quotes = Vec::with_capacity(512);
            let mut next_value = 0;
            for (index, meta) in metas.iter().enumerate() {
                let Some(meta) = meta else {
                    declined.push(index);
                    continue;
                };
                let value = slices[next_value];
                next_value += 1;
                let Some(value) = event_json(value, &accepted) else {
                    declined.push(index);
                    continue;
                };
                let start = out.len();
                if !self.score_one(
                    value,
                    meta,
                    &mut quotes,
                    &mut out,
                    &mut hits,
                    &mut score_counts,
                ) {
                    out.truncate(start);
                    declined.push(index);
                }
            }
            (out, declined, score_counts)
        });
        Ok((PyBytes::new(py, &out), declined, score_counts))
    }
}
