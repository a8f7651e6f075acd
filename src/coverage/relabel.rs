//! Which metrics a scrape job stores: its metric relabelings that `keep` or `drop` by `__name__`
//! (Prometheus `metric_relabel_configs`, prometheus-operator `metricRelabelings`). Kubecost's
//! bundled Prometheus keeps only the metrics Kubecost reads, so an alert on a kube-state-metrics
//! series outside that list never fires there.

use std::sync::Arc;

use regex::Regex;
use serde_json::Value;

use crate::input::Node;

/// Series Prometheus makes itself for every scrape: metric relabeling never sees them.
const SYNTHETIC: &[&str] = &[
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// One `keep` or `drop` on the metric name, its regex anchored as Prometheus anchors it.
#[derive(Debug)]
pub struct Step {
    keep: bool,
    regex: Regex,
}

/// The metric names a job stores. A job merged from several endpoints (or monitors) stores what
/// any of them stores.
#[derive(Debug, Clone, Default)]
pub enum Stored {
    #[default]
    All,
    Filtered(Vec<Arc<[Step]>>),
}

/// One relabel config, as the scrape config or the monitor writes it.
pub struct Relabel<'a> {
    pub sources: Vec<&'a str>,
    pub action: String,
    pub regex: Option<&'a str>,
    pub target: Option<&'a str>,
}

impl Relabel<'_> {
    /// A relabel config of a Prometheus scrape config (`source_labels`, `target_label`).
    pub fn from_config(v: &Value) -> Relabel<'_> {
        Relabel {
            sources: v
                .get("source_labels")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect(),
            action: v.get("action").and_then(Value::as_str).unwrap_or("replace").to_lowercase(),
            regex: v.get("regex").and_then(Value::as_str),
            target: v.get("target_label").and_then(Value::as_str),
        }
    }

    /// A relabeling of a ServiceMonitor or PodMonitor endpoint (`sourceLabels`, `targetLabel`; the
    /// operator accepts actions in either case).
    pub fn from_monitor(n: &Node) -> Relabel<'_> {
        Relabel {
            sources: n
                .get("sourceLabels")
                .and_then(Node::as_seq)
                .unwrap_or_default()
                .iter()
                .filter_map(Node::as_str)
                .collect(),
            action: n.str_at(&["action"]).unwrap_or("replace").to_lowercase(),
            regex: n.str_at(&["regex"]),
            target: n.str_at(&["targetLabel"]),
        }
    }
}

impl Stored {
    /// What one endpoint stores after these relabel configs, in order. Keeps and drops on other
    /// labels are not judged (the series may stay); a config that writes `__name__`, or a regex
    /// that does not compile, makes the names unknown: all are taken as stored.
    pub fn of<'a>(relabels: impl IntoIterator<Item = Relabel<'a>>) -> Stored {
        let mut steps = Vec::new();
        for r in relabels {
            if r.target == Some("__name__") {
                return Stored::All;
            }
            let keep = match r.action.as_str() {
                "keep" => true,
                "drop" => false,
                _ => continue,
            };
            if r.sources != ["__name__"] {
                continue;
            }
            let Ok(regex) = Regex::new(&format!("^(?:{})$", r.regex.unwrap_or("(.*)"))) else { return Stored::All };
            steps.push(Step { keep, regex });
        }
        if steps.is_empty() { Stored::All } else { Stored::Filtered(vec![steps.into()]) }
    }

    /// Both endpoints' series under one job.
    pub fn merge(&mut self, other: &Stored) {
        match (&mut *self, other) {
            (Stored::All, _) => {}
            (_, Stored::All) => *self = Stored::All,
            (Stored::Filtered(a), Stored::Filtered(b)) => a.extend(b.iter().cloned()),
        }
    }

    pub fn keeps(&self, metric: &str) -> bool {
        match self {
            Stored::All => true,
            Stored::Filtered(_) if SYNTHETIC.contains(&metric) => true,
            Stored::Filtered(endpoints) => {
                endpoints.iter().any(|steps| steps.iter().all(|s| s.regex.is_match(metric) == s.keep))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> Stored {
        let v = crate::input::yaml::parse_stream(yaml).documents[0].root.to_json();
        Stored::of(v.as_array().unwrap().iter().map(Relabel::from_config))
    }

    #[test]
    fn keeps_and_drops_by_name_in_order() {
        let s = config(
            "- {source_labels: [__name__], action: keep, regex: 'kube_pod_.*|up'}\n- {source_labels: [__name__], action: drop, regex: kube_pod_info}\n",
        );
        assert!(s.keeps("kube_pod_container_status_restarts_total"));
        assert!(!s.keeps("kube_pod_info"), "dropped after being kept");
        assert!(!s.keeps("kube_deployment_status_replicas_available"));
        assert!(!s.keeps("xkube_pod_container_info"), "anchored at the start");
        assert!(s.keeps("up") && s.keeps("scrape_series_added"), "synthetic series are never relabeled");
    }

    #[test]
    fn what_is_not_judged_keeps_everything() {
        // Another label, a rename to __name__, a broken regex, no name rule at all.
        for yaml in [
            "- {source_labels: [__name__, le], action: drop, regex: 'x;1'}\n",
            "- {source_labels: [__name__], action: keep, regex: a}\n- {source_labels: [b], target_label: __name__}\n",
            "- {source_labels: [__name__], action: keep, regex: '('}\n",
            "- {source_labels: [pod], target_label: pod_name}\n",
        ] {
            let s = config(yaml);
            assert!(s.keeps("kube_pod_info"), "{yaml}");
        }
    }

    #[test]
    fn a_merged_job_stores_what_any_endpoint_stores() {
        let mut a = config("- {source_labels: [__name__], action: keep, regex: a}\n");
        a.merge(&config("- {source_labels: [__name__], action: keep, regex: b}\n"));
        assert!(a.keeps("a") && a.keeps("b") && !a.keeps("c"));
        a.merge(&Stored::All);
        assert!(a.keeps("c"));
    }
}
