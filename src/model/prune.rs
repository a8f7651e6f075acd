//! A plain check reads the body of an object only when some rule knows its kind. The body of any
//! other object (a CRD's schema, a dashboard custom resource...) is dropped on the parsing thread,
//! right after its document is parsed, so that it is never held with the rest of the render: a
//! kube-prometheus-stack render with its CRDs is 95% CRD bytes. Identity and metadata stay
//! (names, duplicates, removed API versions, annotations and their sizes, suppressions). A diff
//! keeps every body, since it shows every change.

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
];

const KEPT_FIELDS: &[&str] = &["apiVersion", "kind", "metadata"];

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
    if read || root.get("apiVersion").is_none() {
        return;
    }
    if let Kind::Map(entries) = &mut root.kind {
        let kept = std::mem::take(entries).into_vec().into_iter();
        *entries = kept.filter(|e| e.key.as_str().is_some_and(|k| KEPT_FIELDS.contains(&k))).collect();
    }
}
