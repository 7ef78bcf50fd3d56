//! Metric filters: a log group's events that a filter pattern takes become
//! datapoints of the filter's metric (`metricValue` a number, or `$.path` /
//! `$field` read from the event; dimensions read the same way; a
//! `defaultValue` for the events that do not match). Applied as events are
//! written (functions' output and `PutLogEvents`).

use crate::filter::FilterPattern;
use crate::store::{Error, Logs, Result};
use nimbus_metrics::{MetricId, Stats};
use nimbus_storage::records::Record;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transformation {
    pub metric_name: String,
    pub metric_namespace: String,
    pub metric_value: String,
    pub default_value: Option<f64>,
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    pub unit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricFilter {
    pub format: u32,
    /// `group\nname`.
    pub key: String,
    pub group: String,
    pub name: String,
    pub pattern: String,
    pub transformations: Vec<Transformation>,
    pub created_ms: u64,
}

impl Record for MetricFilter {
    fn key(&self) -> &str {
        &self.key
    }
    fn format(&self) -> u32 {
        self.format
    }
}

/// A `metricValue` or dimension value: a number, or a reference to what
/// the pattern reads from the event (`$.path`, `$field`).
fn resolve(pattern: &FilterPattern, message: &str, reference: &str) -> Option<String> {
    let Some(r) = reference.strip_prefix('$') else {
        return Some(reference.to_string());
    };
    if r.starts_with('.') || r.starts_with('[') {
        pattern.value_of(message, reference)
    } else {
        pattern.value_of(message, r)
    }
}

/// What a filter extracts from one event: its datapoints (`None`: the event
/// does not match and there is no default).
pub fn datapoints(
    pattern: &FilterPattern,
    transformations: &[Transformation],
    message: &str,
    at: u64,
) -> Vec<(MetricId, u64, bool, Option<String>, Stats)> {
    let matched = pattern.matches(message);
    let mut out = Vec::new();
    for t in transformations {
        let value = if matched {
            resolve(pattern, message, &t.metric_value).and_then(|v| v.trim().parse::<f64>().ok())
        } else {
            t.default_value
        };
        let Some(value) = value else {
            continue;
        };
        // Dimensions only for matched events (a default value has none to read).
        let mut dims = Vec::new();
        if matched {
            for (k, reference) in &t.dimensions {
                match resolve(pattern, message, reference) {
                    Some(v) => dims.push((k.clone(), v)),
                    None => continue,
                }
            }
        } else if !t.dimensions.is_empty() {
            continue;
        }
        let d: Vec<(&str, &str)> = dims.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        out.push((
            MetricId::new(&t.metric_namespace, &t.metric_name, &d),
            at,
            false,
            t.unit.clone(),
            Stats::one(value),
        ));
    }
    out
}

/// `metricTransformations` as given to `PutMetricFilter`.
pub fn transformations(v: &Value) -> Result<Vec<Transformation>> {
    let list = v.as_array().ok_or_else(|| {
        Error::Invalid("metricTransformations must be a list of one transformation.".into())
    })?;
    if list.len() != 1 {
        return Err(Error::Invalid(
            "1 validation error detected: Value at 'metricTransformations' failed to satisfy constraint: Member must have length less than or equal to 1".into(),
        ));
    }
    list.iter()
        .map(|t| {
            let s = |k: &str| t.get(k).and_then(Value::as_str).map(str::to_string);
            let name = s("metricName").ok_or_else(|| Error::Invalid("metricName is required.".into()))?;
            let namespace = s("metricNamespace").ok_or_else(|| Error::Invalid("metricNamespace is required.".into()))?;
            let value = s("metricValue").ok_or_else(|| Error::Invalid("metricValue is required.".into()))?;
            if !value.starts_with('$') && value.parse::<f64>().is_err() {
                return Err(Error::Invalid(format!(
                    "Invalid metric value '{value}': a number, or a $.selector or $field of the filter pattern."
                )));
            }
            let dimensions: BTreeMap<String, String> = t
                .get("dimensions")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect();
            if dimensions.len() > 3 {
                return Err(Error::Invalid("A metric filter may have at most 3 dimensions.".into()));
            }
            let default_value = t.get("defaultValue").and_then(Value::as_f64);
            if default_value.is_some() && !dimensions.is_empty() {
                return Err(Error::Invalid(
                    "Invalid metric transformation: defaultValue cannot be used with dimensions.".into(),
                ));
            }
            Ok(Transformation {
                metric_name: name,
                metric_namespace: namespace,
                metric_value: value,
                default_value,
                dimensions,
                unit: s("unit"),
            })
        })
        .collect()
}

impl Logs {
    /// Write metric filters' datapoints to `metrics` from now on.
    pub fn set_metrics(&self, metrics: Arc<nimbus_metrics::Metrics>) {
        let _ = self.metrics.set(metrics);
    }

    pub fn put_metric_filter(
        &self,
        group: &str,
        name: &str,
        pattern: &str,
        t: Vec<Transformation>,
    ) -> Result<()> {
        self.group(group)?;
        FilterPattern::parse(pattern)
            .map_err(|e| Error::Invalid(format!("Invalid metric filter pattern: {e}")))?;
        if name.is_empty() || name.len() > 512 || name.contains([':', '*']) {
            return Err(Error::Invalid(format!(
                "The filter name {name} is not valid."
            )));
        }
        let key = format!("{group}\n{name}");
        if self.metric_filters.get(&key).is_none()
            && self.metric_filters.prefixed(&format!("{group}\n")).len() >= 100
        {
            return Err(Error::Limit(
                "A log group may have at most 100 metric filters.".into(),
            ));
        }
        let created_ms = self
            .metric_filters
            .get(&key)
            .map_or_else(nimbus_model::time::now_millis, |f| f.created_ms);
        self.metric_filters.put(MetricFilter {
            format: 1,
            key,
            group: group.to_string(),
            name: name.to_string(),
            pattern: pattern.to_string(),
            transformations: t,
            created_ms,
        })?;
        self.compiled.lock().expect("compiled lock").clear();
        Ok(())
    }

    pub fn delete_metric_filter(&self, group: &str, name: &str) -> Result<()> {
        self.group(group)?;
        self.metric_filters
            .delete(&format!("{group}\n{name}"))?
            .ok_or_else(|| Error::NotFound("The specified metric filter does not exist.".into()))?;
        self.compiled.lock().expect("compiled lock").clear();
        Ok(())
    }

    pub fn metric_filters(&self, group: Option<&str>) -> Vec<Arc<MetricFilter>> {
        let mut v = match group {
            Some(g) => self.metric_filters.prefixed(&format!("{g}\n")),
            None => self.metric_filters.all(),
        };
        v.sort_by(|a, b| a.key.cmp(&b.key));
        v
    }

    /// Feed events just written to `group` through its metric filters.
    pub(crate) fn apply_metric_filters(&self, group: &str, events: &[(u64, &str)]) {
        let Some(metrics) = self.metrics.get() else {
            return;
        };
        let filters = {
            let mut compiled = self.compiled.lock().expect("compiled lock");
            compiled
                .entry(group.to_string())
                .or_insert_with(|| {
                    self.metric_filters
                        .prefixed(&format!("{group}\n"))
                        .into_iter()
                        .filter_map(|f| {
                            Some((
                                FilterPattern::parse(&f.pattern).ok()?,
                                f.transformations.clone(),
                            ))
                        })
                        .collect::<Vec<_>>()
                        .into()
                })
                .clone()
        };
        if filters.is_empty() {
            return;
        }
        let mut points = Vec::new();
        for (pattern, t) in filters.iter() {
            for (at, message) in events {
                points.extend(datapoints(pattern, t, message, *at));
            }
        }
        if !points.is_empty() {
            metrics.record_points(points);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_and_dimensions_come_from_the_event() {
        let p = FilterPattern::parse(r#"{ $.level = "ERROR" }"#).unwrap();
        let t = transformations(&json!([{"metricName": "Errors", "metricNamespace": "App",
            "metricValue": "$.ms", "dimensions": {"Service": "$.svc"}, "unit": "Milliseconds"}]))
        .unwrap();
        let got = datapoints(
            &p,
            &t,
            r#"{"level": "ERROR", "ms": 12, "svc": "orders"}"#,
            5,
        );
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].0.dimensions,
            [("Service".to_string(), "orders".to_string())]
        );
        assert_eq!(got[0].4.sum, 12.0);
        assert!(datapoints(&p, &t, r#"{"level": "INFO"}"#, 5).is_empty());

        let space = FilterPattern::parse("[ip, user, ..., status = 4*, bytes]").unwrap();
        let count = transformations(&json!([{"metricName": "Bytes", "metricNamespace": "Web", "metricValue": "$bytes", "defaultValue": 0}])).unwrap();
        assert_eq!(
            datapoints(&space, &count, "1.2.3.4 - 404 512", 1)[0].4.sum,
            512.0
        );
        assert_eq!(
            datapoints(&space, &count, "1.2.3.4 - 200 512", 1)[0].4.sum,
            0.0,
            "the default"
        );
        assert!(
            transformations(
                &json!([{"metricName": "x", "metricNamespace": "y", "metricValue": "many"}])
            )
            .is_err()
        );
        assert!(transformations(&json!([])).is_err());
    }
}
