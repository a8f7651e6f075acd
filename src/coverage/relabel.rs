//! Relabelings, as far as they decide what a scrape job keeps. Which metrics it stores: the
//! metric relabelings that `keep` or `drop` by `__name__` (Prometheus `metric_relabel_configs`,
//! prometheus-operator `metricRelabelings`); Kubecost's bundled Prometheus keeps only the metrics
//! Kubecost reads, so an alert on a kube-state-metrics series outside that list never fires there.
//! Which targets it scrapes: the `keep` and `drop` steps of `relabel_configs` (`TargetFilter`).

use std::borrow::Cow;
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

fn anchored(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{pattern})$"))
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
    /// Always a string to Prometheus: `regex: true` in YAML is the pattern `true`.
    pub regex: Option<Cow<'a, str>>,
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
            regex: match v.get("regex") {
                Some(Value::String(r)) => Some(Cow::Borrowed(r)),
                Some(Value::Bool(b)) => Some(Cow::Owned(b.to_string())),
                Some(Value::Number(n)) => Some(Cow::Owned(n.to_string())),
                _ => None,
            },
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
            regex: n.get("regex").filter(|r| !r.is_null()).and_then(|r| r.as_scalar()).map(|r| Cow::Borrowed(r.text)),
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
            let Ok(regex) = anchored(r.regex.as_deref().unwrap_or("(.*)")) else { return Stored::All };
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

/// A scrape config's `relabel_configs` as far as they keep or drop targets: each `keep` and
/// `drop` with its source labels, their separator and its anchored regex. A step that reads a
/// label an earlier step writes (or, after a `labelmap`, any label but service discovery's own)
/// is not judged, nor one whose regex does not compile: the target may stay.
pub struct TargetFilter {
    steps: Vec<TargetStep>,
}

struct TargetStep {
    keep: bool,
    sources: Vec<String>,
    separator: String,
    regex: Regex,
    /// The regex cut at the separator into one anchored part per source, when it is written so
    /// (`default;kubernetes;https`): a `keep` still drops a target on a known source's part when
    /// another source is not known.
    parts: Option<Vec<Regex>>,
}

impl TargetFilter {
    pub fn of(relabels: &[Value]) -> TargetFilter {
        let mut steps = Vec::new();
        let mut written: Vec<&str> = Vec::new();
        let mut mapped = false;
        for v in relabels {
            let r = Relabel::from_config(v);
            let unknown = r.sources.iter().any(|s| written.contains(s) || (mapped && !s.starts_with("__meta_")));
            match r.action.as_str() {
                "keep" | "drop" if !unknown => {
                    let pattern = r.regex.as_deref().unwrap_or("(.*)");
                    let Ok(regex) = anchored(pattern) else { continue };
                    let separator = v.get("separator").and_then(Value::as_str).unwrap_or(";");
                    let parts: Option<Vec<Regex>> = Some(pattern.split(separator).collect::<Vec<_>>())
                        .filter(|p| p.len() == r.sources.len() && !separator.is_empty())
                        .and_then(|p| p.into_iter().map(|p| anchored(p).ok()).collect());
                    steps.push(TargetStep {
                        keep: r.action == "keep",
                        sources: r.sources.iter().map(|s| (*s).to_owned()).collect(),
                        separator: separator.to_owned(),
                        regex,
                        parts,
                    });
                }
                "keep" | "drop" => {}
                "labelmap" => mapped = true,
                _ => written.extend(r.target),
            }
        }
        TargetFilter { steps }
    }

    /// Whether a target survives; `label` gives the value of a label (`""` for one it lacks), or
    /// None when that label's value is not known here, and a step that reads it is not judged.
    pub fn admits(&self, label: &dyn Fn(&str) -> Option<String>) -> bool {
        self.steps.iter().all(|s| {
            let values: Vec<Option<String>> = s.sources.iter().map(|l| label(l)).collect();
            if let Some(known) = values.iter().cloned().collect::<Option<Vec<String>>>() {
                return s.regex.is_match(&known.join(&s.separator)) == s.keep;
            }
            // Some source not known: a keep whose part for a known source fails drops the target.
            let (true, Some(parts)) = (s.keep, &s.parts) else { return true };
            values.iter().zip(parts).all(|(v, p)| v.as_ref().is_none_or(|v| p.is_match(v)))
        })
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
    fn targets_are_kept_and_dropped_on_known_labels_only() {
        let v = crate::input::yaml::parse_stream(
            "- {source_labels: [__meta_kubernetes_service_annotation_prometheus_io_scrape], action: keep, regex: 'true'}\n\
             - {source_labels: [__meta_kubernetes_namespace, __meta_kubernetes_service_name], action: drop, regex: 'kube-system;.*'}\n\
             - {source_labels: [__meta_kubernetes_pod_container_port_name], action: keep, regex: metrics}\n\
             - {source_labels: [__address__], target_label: __tmp_shard, action: hashmod, modulus: 2}\n\
             - {source_labels: [__tmp_shard], action: keep, regex: '1'}\n",
        )
        .documents[0]
            .root
            .to_json();
        let f = TargetFilter::of(v.as_array().unwrap());
        let labels = |ns: &'static str, scrape: &'static str| {
            move |l: &str| match l {
                "__meta_kubernetes_namespace" => Some(ns.to_owned()),
                "__meta_kubernetes_service_name" => Some("svc".to_owned()),
                "__meta_kubernetes_service_annotation_prometheus_io_scrape" => Some(scrape.to_owned()),
                _ => None,
            }
        };
        assert!(f.admits(&labels("kubecost", "true")), "unknown port name and shard: not judged");
        assert!(!f.admits(&labels("kubecost", "")), "not annotated");
        assert!(!f.admits(&labels("kube-system", "true")), "dropped by namespace and name joined with ;");
        // The API server job: namespace and Service known, the port name not.
        let v = crate::input::yaml::parse_stream(
            "- {source_labels: [__meta_kubernetes_namespace, __meta_kubernetes_service_name, \
             __meta_kubernetes_endpointslice_port_name], action: keep, regex: default;kubernetes;https}\n",
        )
        .documents[0]
            .root
            .to_json();
        let f = TargetFilter::of(v.as_array().unwrap());
        assert!(!f.admits(&labels("kubecost", "")), "another namespace and Service");
        assert!(f.admits(&|l: &str| match l {
            "__meta_kubernetes_namespace" => Some("default".into()),
            "__meta_kubernetes_service_name" => Some("kubernetes".into()),
            _ => None,
        }));
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
