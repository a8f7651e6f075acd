//! Kubecost's in-app alerts. The chart writes `global.notifications.alertConfigs` as JSON into the
//! ConfigMap `alert-configs` (key `alerts.json`); with `enabled: true`, cost-model runs them itself
//! and posts to Slack. Its `diagnostic` alert (before 1.79: `kubecostHealth: true`) fires when the
//! Prometheus that cost-model reads is unreachable: the one signal of that Prometheus's death that
//! does not need the Prometheus. Source: kubecost/docs alerts.md ("Kubecost Health Diagnostic":
//! Prometheus unreachable, Slack only, so it needs `globalSlackWebhookUrl`); the chart's
//! templates/cost-analyzer-alerts-configmap.yaml. Webhook URLs are read, never shown.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Item;
use crate::model::Model;

/// The failures of a Prometheus that leave it unreachable for longer than the alert's window: a
/// single OOM kill restarts it within minutes, before a 10-minute diagnostic window sees it.
pub const MODES: [&str; 2] = ["down", "crashloop"];

/// For each Prometheus workload, the in-app diagnostic alerts that report it unreachable;
/// `cost_model_reads` pairs each cost model with the Prometheus it reads.
pub fn diagnostics(model: &Model<'_>, cost_model_reads: &[(usize, usize)]) -> BTreeMap<usize, Vec<Item>> {
    let mut out: BTreeMap<usize, Vec<Item>> = BTreeMap::new();
    for &(reader, prometheus) in cost_model_reads {
        let r = &model.objects[model.workloads[reader].object];
        let configs = model.of_kind("ConfigMap", r.namespace()).filter(|c| c.id.group().is_empty());
        for cm in configs {
            let Some(text) = cm.data_text("alerts.json") else { continue };
            if !diagnoses(&text) {
                continue;
            }
            out.entry(prometheus).or_default().push(Item {
                alert: "Kubecost diagnostic alert (Prometheus unreachable)".into(),
                rule_object: format!("{}/{}", cm.namespace(), cm.id.name),
                evaluator: format!("{}/{} (Kubecost in-app alerts)", r.namespace(), r.id.name),
                reaches: true,
            });
        }
    }
    out
}

/// Whether an `alerts.json` schedules a diagnostic alert that reaches a Slack webhook.
fn diagnoses(text: &str) -> bool {
    let Ok(config) = serde_json::from_str::<Value>(text) else { return false };
    let truthy = |v: Option<&Value>| matches!(v, Some(Value::Bool(true))) || v.and_then(Value::as_str) == Some("true");
    let filled = |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(|s| !s.trim().is_empty());
    if !truthy(config.get("enabled")) {
        return false;
    }
    let global = filled(config.get("globalSlackWebhookUrl"));
    let alerts = config.get("alerts").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let listed = alerts.iter().any(|a| {
        a.get("type").and_then(Value::as_str) == Some("diagnostic") && (global || filled(a.get("slackWebhookUrl")))
    });
    listed || (global && truthy(config.get("kubecostHealth")))
}

#[cfg(test)]
mod tests {
    use super::diagnoses;

    #[test]
    fn a_diagnostic_alert_needs_the_scheduler_and_a_slack_webhook() {
        let hook = r#""globalSlackWebhookUrl":"https://hooks.slack.com/services/T/B/X""#;
        assert!(diagnoses(&format!(r#"{{"enabled":true,{hook},"alerts":[{{"type":"diagnostic","window":"10m"}}]}}"#)));
        assert!(!diagnoses(&format!(r#"{{"enabled":false,{hook},"alerts":[{{"type":"diagnostic"}}]}}"#)));
        assert!(!diagnoses(r#"{"enabled":true,"alerts":[{"type":"diagnostic"}]}"#), "no webhook");
        assert!(diagnoses(r#"{"enabled":"true","alerts":[{"type":"diagnostic","slackWebhookUrl":"https://h"}]}"#));
        assert!(!diagnoses(&format!(r#"{{"enabled":true,{hook},"alerts":[{{"type":"budget"}}]}}"#)));
        assert!(diagnoses(&format!(r#"{{"enabled":true,{hook},"kubecostHealth":true}}"#)), "before 1.79");
        assert!(!diagnoses("not json"));
    }
}
