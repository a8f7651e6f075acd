//! A plain check reads the body of an object only when some rule knows its kind. The body of any
//! other object (a CRD's schema, a dashboard custom resource...) is dropped on the parsing thread,
//! right after its document is parsed, so that it is never held with the rest of the render: a
//! kube-prometheus-stack render with its CRDs is 95% CRD bytes. Identity and metadata stay
//! (names, duplicates, removed API versions, annotations and their sizes, suppressions). Of the
//! alert rules of a PrometheusRule or VMRule, only what the coverage reads stays. A diff keeps
//! every body, since it shows every change.

use crate::input::{Kind, Node};

/// Every kind whose body the model or a rule reads, in any API group (workloads are recognized by
/// kind alone). `tests/prune.rs` checks on every fixture and a generated stream that pruning
/// changes no finding.
pub const READ_KINDS: &[&str] = &[
    // Workloads (model/workload.rs) and what the rules read beside them.
    "Pod",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
    "CronJob",
    "Service",
    "PersistentVolumeClaim",
    "PodDisruptionBudget",
    "HorizontalPodAutoscaler",
    "ConfigMap",
    "Secret",
    "Namespace",
    // prometheus-operator (model/workload.rs, coverage/).
    "Prometheus",
    "PrometheusAgent",
    "ThanosRuler",
    "PrometheusRule",
    "ServiceMonitor",
    "PodMonitor",
    "ScrapeConfig",
    "Probe",
    "Alertmanager",
    "AlertmanagerConfig",
    // VictoriaMetrics operator (coverage/).
    "VMRule",
    "VMAlert",
    "VMSingle",
    "VMAgent",
    "VMServiceScrape",
    "VMPodScrape",
    "VMNodeScrape",
    "VMAlertmanager",
    "VMAlertmanagerConfig",
];

pub(crate) const KEPT_FIELDS: &[&str] = &["apiVersion", "kind", "metadata"];

/// What the coverage reads of an alert rule group and of a rule (`coverage/rules.rs`): a rule's
/// annotations (summary, description, runbook URL) are most of its text, and a render holds
/// thousands of rules.
const GROUP_FIELDS: &[&str] = &["name", "rules"];
const RULE_FIELDS: &[&str] = &["alert", "record", "expr", "for", "labels"];

/// Drops the body of a document (or of each item of a List) whose kind nothing reads.
pub fn unread_bodies(root: &mut Node) {
    let Some(kind) = root.get("kind").and_then(Node::as_str) else { return };
    let (list, read) = (kind.ends_with("List"), READ_KINDS.contains(&kind));
    if list {
        if let Some(items) = root.get_mut("items")
            && let Kind::Seq(items) = &mut items.kind
        {
            items.iter_mut().for_each(unread_bodies);
        }
        return;
    }
    let Some(api) = root.get("apiVersion") else { return };
    let api = api.as_str().unwrap_or_default();
    if holds_rule_groups(root) {
        unread_rule_fields(root);
    } else if kind == "ConfigMap" && api == "v1" {
        unread_dashboards(root);
    } else if !read {
        keep_fields(root, KEPT_FIELDS);
    }
}

/// A prometheus-operator PrometheusRule or a VictoriaMetrics VMRule document, whose `spec.groups`
/// hold alert rules (`coverage::rules::holds_rules` says it of a modelled object).
pub(crate) fn holds_rule_groups(root: &Node) -> bool {
    let field = |key: &str| root.get(key).and_then(Node::as_str);
    let (Some(api), Some(kind)) = (field("apiVersion"), field("kind")) else { return false };
    let group = api.rsplit_once('/').map_or("", |(g, _)| g);
    matches!((group, kind), ("monitoring.coreos.com", "PrometheusRule") | ("operator.victoriametrics.com", "VMRule"))
}

fn unread_rule_fields(root: &mut Node) {
    let Some(Kind::Seq(groups)) = root.get_mut("spec").and_then(|s| s.get_mut("groups")).map(|g| &mut g.kind) else {
        return;
    };
    for group in groups.iter_mut() {
        keep_fields(group, GROUP_FIELDS);
        if let Some(Kind::Seq(rules)) = group.get_mut("rules").map(|r| &mut r.kind) {
            rules.iter_mut().for_each(|r| keep_fields(r, RULE_FIELDS));
        }
    }
}

/// Top-level keys of the files that rules read out of ConfigMaps: a rule file's `groups`, a
/// Prometheus config's, an Alertmanager config's, and Kubecost's `alerts.json`. A JSON object with
/// any of them is not taken for a dashboard, whatever else it holds.
const READ_FILE_KEYS: &[&str] =
    &["groups", "global", "scrape_configs", "rule_files", "alerting", "route", "receivers", "alerts", "enabled"];

/// Below this a dashboard costs less to keep than to recognize.
const MIN_DASHBOARD_BYTES: usize = 4096;

/// Grafana dashboards that charts ship in ConfigMaps for Grafana's sidecar: no rule reads one,
/// and they are most of some renders (72% of Kubecost 2.3's). A value is taken for a dashboard
/// when it is a JSON object with `panels` (or `rows`, before Grafana 5) and none of
/// `READ_FILE_KEYS`; its text then gives way to `{}`. Not in a ConfigMap over the API server's
/// size limit, whose finding counts every byte: under it, a smaller text cannot change a finding.
fn unread_dashboards(root: &mut Node) {
    if crate::model::data_bytes("", "ConfigMap", root).is_none_or(|(n, _)| n > crate::model::MAX_DATA_BYTES) {
        return;
    }
    let Some(Kind::Map(entries)) = root.get_mut("data").map(|d| &mut d.kind) else { return };
    for e in entries.iter_mut() {
        if e.value.as_scalar().is_some_and(|s| is_dashboard(s.text)) {
            e.value.set_scalar_text("{}");
        }
    }
}

fn is_dashboard(text: &str) -> bool {
    use serde::de::IgnoredAny;
    if text.len() < MIN_DASHBOARD_BYTES || !text.trim_start().starts_with('{') {
        return false;
    }
    // Top-level keys only: the values are scanned, not built.
    let Ok(keys) = serde_json::from_str::<std::collections::BTreeMap<String, IgnoredAny>>(text) else { return false };
    (keys.contains_key("panels") || keys.contains_key("rows")) && !READ_FILE_KEYS.iter().any(|k| keys.contains_key(*k))
}

pub(crate) fn keep_fields(node: &mut Node, kept: &[&str]) {
    let Kind::Map(entries) = &mut node.kind else { return };
    if entries.iter().all(|e| kept.contains(&e.key.text())) {
        return;
    }
    let all = std::mem::take(entries).into_vec().into_iter();
    *entries = all.filter(|e| kept.contains(&e.key.text())).collect();
}
