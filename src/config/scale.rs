//! The cluster's scale, which turns the Prometheus sizing model's constants into bytes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Config;
use crate::knowledge::catalogue;
use crate::model::quantity::bytes_human;
use crate::model::{Model, Workload};

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Scale {
    /// Head series of the Prometheus (`prometheus_tsdb_head_series`).
    pub active_series: Option<u64>,
    pub nodes: Option<u64>,
    pub pods: Option<u64>,
    /// Per-Prometheus scale, for inputs with several.
    pub per_prometheus: Vec<PrometheusScale>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PrometheusScale {
    pub name: String,
    pub namespace: Option<String>,
    pub active_series: Option<u64>,
    pub nodes: Option<u64>,
    pub pods: Option<u64>,
}

/// Active series and how they were obtained, from whichever of the three is declared.
fn series(active: Option<u64>, nodes: Option<u64>, pods: Option<u64>) -> Option<(f64, String)> {
    let m = &catalogue().sizing_model;
    if let Some(s) = active {
        return Some((s as f64, format!("{s} active series (declared)")));
    }
    if nodes.is_none() && pods.is_none() {
        return None;
    }
    let n = nodes.unwrap_or(0) as f64;
    let p = pods.unwrap_or(0) as f64;
    let s = n * m.series_per_node.value + p * m.series_per_pod.value;
    Some((
        s,
        format!(
            "{n} nodes x {} + {p} pods x {} = {s} active series [{}; {}]",
            m.series_per_node.value, m.series_per_pod.value, m.series_per_node.source, m.series_per_pod.source
        ),
    ))
}

/// The active series of this Prometheus from the declared scale (its own entry first), and how
/// they were obtained.
pub fn active_series(config: &Config, model: &Model<'_>, w: &Workload<'_>) -> Option<(f64, String)> {
    let obj = &model.objects[w.object];
    let scale = &config.scale;
    let specific = scale
        .per_prometheus
        .iter()
        .find(|p| p.name == obj.id.name && p.namespace.as_deref().is_none_or(|ns| ns == obj.namespace()));
    match specific {
        Some(p) => series(p.active_series, p.nodes, p.pods),
        None => series(scale.active_series, scale.nodes, scale.pods),
    }
}

/// The steady-state memory of this Prometheus from the declared scale, and the arithmetic.
pub fn steady_state(config: &Config, model: &Model<'_>, w: &Workload<'_>) -> Option<(f64, String)> {
    let (s, how) = active_series(config, model, w)?;
    let m = &catalogue().sizing_model;
    let bytes = s * m.bytes_per_active_series.value + m.go_runtime_overhead_bytes.value;
    Some((
        bytes,
        format!(
            "{how} x {} bytes per series [{}] = {}",
            m.bytes_per_active_series.value,
            m.bytes_per_active_series.source,
            bytes_human(bytes)
        ),
    ))
}
