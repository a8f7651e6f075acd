//! Relabelings, as far as they decide what a scrape job keeps. Which metrics it stores: the
//! metric relabelings that `keep` or `drop` by `__name__` (Prometheus `metric_relabel_configs`,
//! prometheus-operator `metricRelabelings`); Kubecost's bundled Prometheus keeps only the metrics
//! Kubecost reads, so an alert on a kube-state-metrics series outside that list never fires there.
//! Which targets it scrapes: the `keep` and `drop` steps of `relabel_configs` (`TargetFilter`).
//! Under which `job` label: the steps of `relabel_configs` that write it (`JobRename`).

use std::borrow::Cow;
use std::sync::Arc;

use foldhash::{HashMap, HashMapExt};
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
    pub separator: Option<&'a str>,
    pub replacement: Option<Cow<'a, str>>,
}

/// A scalar that Prometheus reads as a string, whatever YAML made of it.
fn config_text(v: Option<&Value>) -> Option<Cow<'_, str>> {
    match v {
        Some(Value::String(r)) => Some(Cow::Borrowed(r)),
        Some(Value::Bool(b)) => Some(Cow::Owned(b.to_string())),
        Some(Value::Number(n)) => Some(Cow::Owned(n.to_string())),
        _ => None,
    }
}

fn monitor_text<'a>(n: &'a Node, key: &str) -> Option<Cow<'a, str>> {
    n.get(key).filter(|r| !r.is_null()).and_then(|r| r.as_scalar()).map(|r| Cow::Borrowed(r.text))
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
            regex: config_text(v.get("regex")),
            target: v.get("target_label").and_then(Value::as_str),
            separator: v.get("separator").and_then(Value::as_str),
            replacement: config_text(v.get("replacement")),
        }
    }

    /// A relabeling of a ServiceMonitor or PodMonitor endpoint (`sourceLabels`, `targetLabel`; the
    /// operator accepts actions in either case), or of a VictoriaMetrics scrape object, which also
    /// takes `source_labels` and `target_label`.
    pub fn from_monitor(n: &Node) -> Relabel<'_> {
        Relabel {
            sources: n
                .get("sourceLabels")
                .or_else(|| n.get("source_labels"))
                .and_then(Node::as_seq)
                .unwrap_or_default()
                .iter()
                .filter_map(Node::as_str)
                .collect(),
            action: n.str_at(&["action"]).unwrap_or("replace").to_lowercase(),
            regex: monitor_text(n, "regex"),
            target: n.str_at(&["targetLabel"]).or_else(|| n.str_at(&["target_label"])),
            separator: n.str_at(&["separator"]),
            replacement: monitor_text(n, "replacement"),
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
                    let separator = r.separator.unwrap_or(";");
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

/// The discovery label that holds a `jobLabel` of a Service, pod or node (`family`), its name
/// sanitized as the operators sanitize it: `__meta_kubernetes_service_label_app_kubernetes_io_name`.
pub fn job_label_source(family: &str, label: &str) -> String {
    let sanitized: String = super::discovery::sanitized(label).collect();
    format!("__meta_kubernetes_{family}_label_{sanitized}")
}

/// The target relabelings in order, keeps and drops aside (they decide which targets stay, not
/// what they are labelled), as far as they decide the `job` label. Prometheus sets `job` to the job's name before relabeling (prometheus-operator to
/// the Service's name, or `<namespace>/<name>` for a PodMonitor, then to the `jobLabel` label
/// when the target has it), and any later step may overwrite it: kube-prometheus's jsonnet and
/// many charts name the job in a monitor's `relabelings`.
pub struct JobRename {
    steps: Vec<Rename>,
}

struct Rename {
    action: String,
    sources: Vec<String>,
    separator: String,
    /// None when the pattern does not compile: what it writes is not known.
    regex: Option<Regex>,
    target: Option<String>,
    replacement: String,
}

impl JobRename {
    /// `job_label`: the discovery label the operator takes the job from before the user's steps,
    /// when the target has it (a monitor's `jobLabel`, `job_label_source`).
    pub fn of<'a>(job_label: Option<&'a str>, relabels: impl IntoIterator<Item = Relabel<'a>>) -> JobRename {
        let first = job_label.map(|source| Relabel {
            sources: vec![source],
            action: "replace".into(),
            regex: Some("(.+)".into()),
            target: Some("job"),
            separator: None,
            replacement: None,
        });
        let steps = first
            .into_iter()
            .chain(relabels)
            .filter(|r| !matches!(r.action.as_str(), "keep" | "drop" | "keepequal" | "dropequal"))
            .map(|r| Rename {
                sources: r.sources.iter().map(|s| (*s).to_owned()).collect(),
                separator: r.separator.unwrap_or(";").to_owned(),
                regex: anchored(r.regex.as_deref().unwrap_or("(.*)")).ok(),
                target: r.target.map(str::to_owned),
                replacement: r.replacement.as_deref().unwrap_or("$1").to_owned(),
                action: r.action,
            })
            .collect();
        JobRename { steps }
    }

    /// Whether any step writes a label, and so may write `job`.
    pub fn renames(&self) -> bool {
        !self.steps.is_empty()
    }

    /// Whether some step reads a label of the pod (the job may differ from pod to pod).
    pub fn reads_pods(&self) -> bool {
        self.steps.iter().flat_map(|s| &s.sources).any(|l| l.starts_with("__meta_kubernetes_pod_"))
    }

    /// The `job` a target ends with, from `initial`; `label` gives the value of a discovery label
    /// (`""` when the target lacks it) or None when the input does not tell it. None when the job
    /// is not known here: a step read an unknown label into it, hashed it, or dropped it.
    pub fn job(&self, initial: &str, label: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        // Labels the steps wrote so far; None: written with a value not known here.
        let mut written: HashMap<String, Option<String>> = HashMap::new();
        written.insert("job".to_owned(), Some(initial.to_owned()));
        for s in &self.steps {
            let value = |l: &str| written.get(l).cloned().unwrap_or_else(|| label(l));
            let sources: Option<Vec<String>> = s.sources.iter().map(|l| value(l)).collect();
            match s.action.as_str() {
                "replace" | "lowercase" | "uppercase" => {
                    let Some(target) = s.target.as_deref() else { continue };
                    let (Some(sources), Some(regex)) = (sources, &s.regex) else {
                        // What it writes, and for a templated target where, is not known.
                        let at = if target.contains('$') { "job" } else { target };
                        written.insert(at.to_owned(), None);
                        continue;
                    };
                    let joined = sources.join(&s.separator);
                    if s.action != "replace" {
                        let v = if s.action == "lowercase" { joined.to_lowercase() } else { joined.to_uppercase() };
                        written.insert(target.to_owned(), Some(v));
                        continue;
                    }
                    let Some(caps) = regex.captures(&joined) else { continue };
                    let (mut at, mut v) = (String::new(), String::new());
                    caps.expand(target, &mut at);
                    caps.expand(&s.replacement, &mut v);
                    if !at.is_empty() {
                        written.insert(at, Some(v));
                    }
                }
                "hashmod" => {
                    written.extend(s.target.clone().map(|t| (t, None)));
                }
                // A label mapped onto `job`: from a discovery label named `..._job`.
                "labelmap" => {
                    let Some(regex) = &s.regex else {
                        written.insert("job".to_owned(), None);
                        continue;
                    };
                    for family in ["service_label", "service_annotation", "pod_label", "pod_annotation"] {
                        let name = format!("__meta_kubernetes_{family}_job");
                        let Some(caps) = regex.captures(&name) else { continue };
                        let mut at = String::new();
                        caps.expand(&s.replacement, &mut at);
                        // A label named `job` on a Service or pod is rare: one the input does not
                        // show is taken as absent, or every job whose config maps labels (the
                        // prometheus chart's discovery jobs) would be of any name.
                        if at == "job"
                            && let Some(v) = label(&name).filter(|v| !v.is_empty())
                        {
                            written.insert(at, Some(v));
                        }
                    }
                }
                "labeldrop" | "labelkeep" => {
                    let matched = s.regex.as_ref().map(|r| r.is_match("job"));
                    if matched != Some(s.action == "labelkeep") {
                        written.insert("job".to_owned(), None);
                    }
                }
                _ => {}
            }
        }
        written.remove("job").flatten().filter(|j| !j.is_empty())
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
    fn the_job_label_is_written_as_prometheus_writes_it() {
        let job = |yaml: &str| {
            let v = crate::input::yaml::parse_stream(yaml).documents[0].root.to_json();
            let rename = JobRename::of(None, v.as_array().unwrap().iter().map(Relabel::from_config));
            rename.job("svc", &|l: &str| match l {
                "__meta_kubernetes_namespace" => Some("monitoring".into()),
                "__meta_kubernetes_service_label_app" => Some("Cost-Model".into()),
                "__meta_kubernetes_service_label_job" => Some("from-label".into()),
                l if l.starts_with("__meta_kubernetes_service_label_") => Some(String::new()),
                _ => None,
            })
        };
        let cases = [
            ("- {target_label: job, replacement: finops}\n", Some("finops")),
            ("- {source_labels: [job], regex: '(.*)', target_label: job, replacement: 'x-$1'}\n", Some("x-svc")),
            (
                "- {source_labels: [__meta_kubernetes_namespace, job], separator: /, target_label: job}\n",
                Some("monitoring/svc"),
            ),
            (
                "- {source_labels: [__meta_kubernetes_service_label_app], target_label: job, action: lowercase}\n",
                Some("cost-model"),
            ),
            // No match: the job stays; an empty result deletes it.
            (
                "- {source_labels: [__meta_kubernetes_service_label_app], regex: 'web', target_label: job, replacement: w}\n",
                Some("svc"),
            ),
            ("- {source_labels: [__meta_kubernetes_service_label_team], target_label: job}\n", None),
            // Through a temporary label, and into a templated target.
            (
                "- {source_labels: [__meta_kubernetes_namespace], target_label: __tmp_ns}\n- {source_labels: [__tmp_ns], target_label: job}\n",
                Some("monitoring"),
            ),
            (
                "- {source_labels: [__meta_kubernetes_namespace], regex: '(.*)', target_label: '${1}_x', replacement: v}\n",
                Some("svc"),
            ),
            (
                "- {source_labels: [__meta_kubernetes_namespace], regex: '(.*)', target_label: '$1'}\n- {target_label: job, replacement: a}\n",
                Some("a"),
            ),
            // Not known here: an unknown source, a hash, a dropped label.
            ("- {source_labels: [__meta_kubernetes_pod_container_port_name], target_label: job}\n", None),
            ("- {source_labels: [__address__], target_label: job, modulus: 4, action: hashmod}\n", None),
            ("- {regex: job, action: labeldrop}\n", None),
            ("- {regex: 'instance|job', action: labelkeep}\n", Some("svc")),
            ("- {source_labels: [x], target_label: job, regex: '('}\n", None),
            // A Service label named `job`, mapped.
            ("- {regex: __meta_kubernetes_service_label_(.+), action: labelmap}\n", Some("from-label")),
            ("- {regex: __meta_kubernetes_pod_label_(.+), action: labelmap}\n", Some("svc")),
            // Keeps and drops rename nothing.
            ("- {source_labels: [__address__], action: keep, regex: 'x'}\n", Some("svc")),
        ];
        for (yaml, want) in cases {
            assert_eq!(job(yaml).as_deref(), want, "{yaml}");
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
