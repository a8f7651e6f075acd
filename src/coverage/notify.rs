//! Can an alert reach a person? Alertmanager configs (Secret `alertmanager-<name>`, base64 `data`
//! or `stringData`, or a ConfigMap) are followed route by route to a receiver, and a receiver with
//! no integrations (`null`) notifies nobody. Secret contents are parsed, never printed.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::Value;

use crate::input::{Node, yaml};
use crate::model::Model;

#[derive(Debug, Clone)]
pub struct AlertmanagerConfig {
    /// Index of the object (Secret or ConfigMap) that holds it.
    pub object: usize,
    pub config: Value,
}

fn parse(text: &str) -> Option<Value> {
    let parsed = yaml::parse_stream(text);
    parsed.documents.first().map(|d| d.root.to_json())
}

/// The Alertmanager config held in a Secret or ConfigMap data key.
fn config_in(model: &Model<'_>, object: usize, keys: &[&str]) -> Option<AlertmanagerConfig> {
    let o = &model.objects[object];
    for key in keys {
        if let Some(v) = o.node.path(&["stringData", key]).and_then(Node::as_str) {
            return parse(v).map(|config| AlertmanagerConfig { object, config });
        }
        if let Some(v) = o.node.path(&["data", key]).and_then(Node::as_str) {
            let text = if o.id.kind == "Secret" {
                let compact: String = v.split_whitespace().collect();
                let bytes = base64::engine::general_purpose::STANDARD.decode(compact).ok()?;
                String::from_utf8(bytes).ok()?
            } else {
                v.to_owned()
            };
            return parse(&text).map(|config| AlertmanagerConfig { object, config });
        }
    }
    None
}

/// The config of the prometheus-operator `Alertmanager` named `name` in `ns`.
pub fn operator_config(model: &Model<'_>, ns: &str, name: &str) -> Option<AlertmanagerConfig> {
    let am = model
        .objects
        .iter()
        .find(|o| o.is("monitoring.coreos.com", "Alertmanager") && o.namespace() == ns && o.id.name == name);
    let secret_name = am
        .and_then(|a| a.node.str_at(&["spec", "configSecret"]))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("alertmanager-{name}"));
    let idx =
        model.objects.iter().position(|o| o.is("", "Secret") && o.namespace() == ns && o.id.name == secret_name)?;
    config_in(model, idx, &["alertmanager.yaml", "alertmanager.yml"])
}

/// An Alertmanager config in a ConfigMap of the namespace (the prometheus chart's alertmanager).
pub fn configmap_config(model: &Model<'_>, ns: &str) -> Option<AlertmanagerConfig> {
    model.objects.iter().enumerate().filter(|(_, o)| o.is("", "ConfigMap") && o.namespace() == ns).find_map(|(i, o)| {
        o.node.path(&["data", "alertmanager.yml"]).or_else(|| o.node.path(&["data", "alertmanager.yaml"]))?;
        config_in(model, i, &["alertmanager.yml", "alertmanager.yaml"])
    })
}

/// One `matchers:` entry: `name = "value"`, `name=~"re"`, `name!="v"`, `name!~"re"`.
fn matcher_holds(m: &str, labels: &BTreeMap<String, String>) -> bool {
    let ops = ["=~", "!~", "!=", "="];
    let Some((pos, op)) = ops.iter().filter_map(|op| m.find(op).map(|p| (p, *op))).min_by_key(|(p, _)| *p) else {
        return true;
    };
    let name = m[..pos].trim();
    let value = m[pos + op.len()..].trim().trim_matches('"');
    let actual = labels.get(name).map(String::as_str).unwrap_or("");
    let re = || regex::Regex::new(&format!("^(?:{value})$")).ok();
    match op {
        "=" => actual == value,
        "!=" => actual != value,
        "=~" => re().is_some_and(|r| r.is_match(actual)),
        _ => re().is_some_and(|r| !r.is_match(actual)),
    }
}

fn route_matches(route: &Value, labels: &BTreeMap<String, String>) -> bool {
    let list = route.get("matchers").and_then(Value::as_array).into_iter().flatten();
    let equal = route.get("match").and_then(Value::as_object).into_iter().flatten();
    let regex = route.get("match_re").and_then(Value::as_object).into_iter().flatten();
    list.filter_map(Value::as_str).all(|m| matcher_holds(m, labels))
        && equal.into_iter().all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str())
        && regex.into_iter().all(|(k, v)| {
            let actual = labels.get(k).map(String::as_str).unwrap_or("");
            v.as_str().and_then(|v| regex::Regex::new(&format!("^(?:{v})$")).ok()).is_some_and(|r| r.is_match(actual))
        })
}

/// The receivers an alert with these labels is sent to.
pub fn receivers(config: &Value, labels: &BTreeMap<String, String>) -> Vec<String> {
    fn walk(route: &Value, inherited: &str, labels: &BTreeMap<String, String>, out: &mut Vec<String>, depth: usize) {
        let recv = route.get("receiver").and_then(Value::as_str).unwrap_or(inherited);
        let mut matched = false;
        if depth < 32 {
            for child in route.get("routes").and_then(Value::as_array).into_iter().flatten() {
                if route_matches(child, labels) {
                    matched = true;
                    walk(child, recv, labels, out, depth + 1);
                    if !child.get("continue").and_then(Value::as_bool).unwrap_or(false) {
                        break;
                    }
                }
            }
        }
        if !matched {
            out.push(recv.to_owned());
        }
    }
    let mut out = Vec::new();
    if let Some(root) = config.get("route") {
        walk(root, "", labels, &mut out, 0);
    }
    out
}

/// A receiver with at least one `*_configs` integration.
pub fn receiver_notifies(config: &Value, name: &str) -> bool {
    config
        .get("receivers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|r| r.get("name").and_then(Value::as_str) == Some(name))
        .any(|r| {
            r.as_object().is_some_and(|m| {
                m.iter().any(|(k, v)| k.ends_with("_configs") && v.as_array().is_some_and(|a| !a.is_empty()))
            })
        })
}

pub fn reaches_someone(config: &Value, labels: &BTreeMap<String, String>) -> bool {
    receivers(config, labels).iter().any(|r| receiver_notifies(config, r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn kube_prometheus_stack_default_routes_to_null() {
        let cfg = parse("route:\n  receiver: 'null'\n  routes:\n  - receiver: 'null'\n    matchers: [alertname = \"Watchdog\"]\nreceivers:\n- name: 'null'\n").unwrap();
        assert!(!reaches_someone(&cfg, &labels(&[("alertname", "KubePodCrashLooping")])));
        assert!(!reaches_someone(&cfg, &labels(&[("alertname", "Watchdog")])));
    }

    #[test]
    fn routes_pick_receivers() {
        let cfg = parse("route:\n  receiver: 'null'\n  routes:\n  - receiver: pager\n    matchers: ['severity=~\"critical|warning\"']\nreceivers:\n- name: 'null'\n- name: pager\n  pagerduty_configs: [{routing_key: x}]\n").unwrap();
        assert!(reaches_someone(&cfg, &labels(&[("severity", "warning")])));
        assert!(!reaches_someone(&cfg, &labels(&[("severity", "info")])));
    }
}
