//! Can an alert reach a person? Alertmanager configs (Secret `alertmanager-<name>`, base64 `data`
//! or `stringData`, or a ConfigMap, with the prometheus-operator's AlertmanagerConfig objects
//! merged in) are followed route by route to a receiver, and a receiver with no integrations
//! (`null`) notifies nobody. Secret contents are parsed, never printed.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::input::{Node, yaml};
use crate::model::{Model, Object, references};

#[derive(Debug, Clone)]
pub struct AlertmanagerConfig {
    /// Index of the object (Secret or ConfigMap) that holds it.
    pub object: usize,
    pub config: Value,
}

pub(super) fn parse(text: &str) -> Option<Value> {
    let parsed = yaml::parse_stream(text);
    parsed.documents.first().map(|d| d.root.to_json())
}

/// The Alertmanager config held in a Secret or ConfigMap data key.
pub(super) fn config_in(model: &Model<'_>, object: usize, keys: &[&str]) -> Option<AlertmanagerConfig> {
    let text = keys.iter().find_map(|key| model.objects[object].data_text(key))?;
    parse(&text).map(|config| AlertmanagerConfig { object, config })
}

/// The Alertmanager config held in the Secret `name` of `ns`, under the first of `keys` it has.
pub(super) fn secret_config(model: &Model<'_>, ns: &str, name: &str, keys: &[&str]) -> Option<AlertmanagerConfig> {
    let (at, _) = model.every("", "Secret").find(|(_, o)| o.namespace() == ns && o.id.name == name)?;
    config_in(model, at, keys)
}

/// The config of the prometheus-operator `Alertmanager` named `name` in `ns`, as the operator
/// generates it: the AlertmanagerConfig named by `spec.alertmanagerConfiguration`, else the config
/// Secret, with the routes of the AlertmanagerConfigs it selects put first.
fn operator_config(model: &Model<'_>, ns: &str, name: &str) -> Option<AlertmanagerConfig> {
    let am = model
        .every("monitoring.coreos.com", "Alertmanager")
        .map(|(_, o)| o)
        .find(|o| o.namespace() == ns && o.id.name == name);
    let spec = am.and_then(|a| a.node.get("spec"));
    let mut base = match spec.and_then(|s| s.str_at(&["alertmanagerConfiguration", "name"])) {
        Some(global) => {
            let (i, _) = model
                .every("monitoring.coreos.com", "AlertmanagerConfig")
                .find(|(_, o)| o.namespace() == ns && o.id.name == global)?;
            let cr = model.objects[i].node.get("spec")?;
            let mut config = serde_json::Map::new();
            config.insert("route".into(), cr.get("route").map_or(Value::Null, |r| cr_route(r, &cr_key(ns, global))));
            config.insert("receivers".into(), Value::Array(cr_receivers(cr, &cr_key(ns, global))));
            AlertmanagerConfig { object: i, config: Value::Object(config) }
        }
        None => {
            let secret_name = spec
                .and_then(|s| s.str_at(&["configSecret"]))
                .map(str::to_owned)
                .unwrap_or_else(|| format!("alertmanager-{name}"));
            secret_config(model, ns, &secret_name, &["alertmanager.yaml", "alertmanager.yml"])?
        }
    };
    if let Some(am) = am {
        merge_selected(model, am, &mut base.config);
    }
    Some(base)
}

/// The configs of the Alertmanagers behind an entry of a Prometheus's `spec.alerting.alertmanagers`,
/// whose `name` is an Endpoints object's, i.e. a Service's: kube-prometheus names its Service
/// `alertmanager-main` for the Alertmanager `main`, kube-prometheus-stack gives both one name. The
/// Service's selector is matched against the labels the operator puts on each Alertmanager's pods
/// (`spec.podMetadata.labels`, then its own); `alertmanager-operated`, which the operator makes,
/// selects every Alertmanager of the namespace. Without the Service, an Alertmanager of that name is
/// taken. None when no Alertmanager is found or one's config is not in the render.
pub fn endpoint_configs(model: &Model<'_>, ns: &str, name: &str) -> Option<Vec<AlertmanagerConfig>> {
    let ams: Vec<&Object<'_>> =
        model.every("monitoring.coreos.com", "Alertmanager").map(|(_, o)| o).filter(|o| o.namespace() == ns).collect();
    let service = model.core_object("Service", ns, name);
    let selected: Vec<&Object<'_>> = match service.and_then(|s| s.node.path(&["spec", "selector"])) {
        Some(selector) => {
            let selector = crate::model::string_map(Some(selector));
            ams.into_iter().filter(|am| references::selects(&selector, &pod_labels(am))).collect()
        }
        None if name == "alertmanager-operated" => ams,
        None => ams.into_iter().filter(|am| am.id.name == name).collect(),
    };
    if selected.is_empty() {
        return None;
    }
    selected.iter().map(|am| operator_config(model, ns, &am.id.name)).collect()
}

/// The labels of an operator Alertmanager's pods (prometheus-operator's `makeSelectorLabels`
/// over `spec.podMetadata.labels`).
fn pod_labels<'a>(am: &Object<'a>) -> BTreeMap<&'a str, &'a str> {
    let mut labels = crate::model::string_map(am.node.path(&["spec", "podMetadata", "labels"]));
    let name: &'a str = am.node.str_at(&["metadata", "name"]).unwrap_or_default();
    labels.extend([
        ("app.kubernetes.io/name", "alertmanager"),
        ("app.kubernetes.io/managed-by", "prometheus-operator"),
        ("app.kubernetes.io/instance", name),
        ("alertmanager", name),
    ]);
    labels
}

/// Receivers and nested route names of an AlertmanagerConfig (and of a VMAlertmanagerConfig) are
/// prefixed `namespace/name/`.
pub(super) fn cr_key(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
}

/// An AlertmanagerConfig route in Alertmanager's own form: matchers as `name="value"` strings.
fn cr_route(route: &Node, key: &str) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(r) = route.str_at(&["receiver"]).filter(|r| !r.is_empty()) {
        out.insert("receiver".into(), Value::String(format!("{key}/{r}")));
    }
    let matchers: Vec<Value> = route
        .get("matchers")
        .and_then(Node::as_seq)
        .unwrap_or_default()
        .iter()
        .map(|m| {
            let regex = m.get("regex").and_then(Node::as_bool).unwrap_or(false);
            let op = m.str_at(&["matchType"]).unwrap_or(if regex { "=~" } else { "=" });
            let name = m.str_at(&["name"]).unwrap_or_default();
            Value::String(format!("{name}{op}\"{}\"", m.str_at(&["value"]).unwrap_or_default()))
        })
        .collect();
    out.insert("matchers".into(), Value::Array(matchers));
    if route.get("continue").and_then(Node::as_bool) == Some(true) {
        out.insert("continue".into(), Value::Bool(true));
    }
    let children = route.get("routes").and_then(Node::as_seq).unwrap_or_default();
    out.insert("routes".into(), Value::Array(children.iter().map(|c| cr_route(c, key)).collect()));
    Value::Object(out)
}

/// Receivers keep their name and, for each integration list (`slackConfigs`...), as many empty
/// entries as it has: whether a receiver notifies is all that is read, and nothing of a Secret's.
fn cr_receivers(spec: &Node, key: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for r in spec.get("receivers").and_then(Node::as_seq).unwrap_or_default() {
        let mut receiver = serde_json::Map::new();
        receiver.insert("name".into(), Value::String(format!("{key}/{}", r.str_at(&["name"]).unwrap_or_default())));
        for e in r.as_map().unwrap_or_default() {
            let (Some(k), Some(list)) = (e.key.as_str(), e.value.as_seq()) else { continue };
            if let Some(kind) = k.strip_suffix("Configs") {
                receiver
                    .insert(format!("{}_configs", kind.to_lowercase()), Value::Array(vec![Value::Null; list.len()]));
            }
        }
        out.push(Value::Object(receiver));
    }
    out
}

/// The AlertmanagerConfigs an Alertmanager selects (`alertmanagerConfigSelector`: null selects
/// none; `alertmanagerConfigNamespaceSelector`: null means its own namespace), in the operator's
/// order (by namespace, then name), their routes put first under the root route. Each such route
/// matches only its own namespace's alerts (unless `alertmanagerConfigMatcherStrategy` says
/// otherwise) and lets them continue to the routes after it.
fn merge_selected(model: &Model<'_>, am: &crate::model::Object<'_>, config: &mut Value) {
    use super::evaluators::{namespace_selected, object_selected};
    let spec = am.node.get("spec");
    let selector = spec.and_then(|s| s.get("alertmanagerConfigSelector"));
    let ns_selector = spec.and_then(|s| s.get("alertmanagerConfigNamespaceSelector"));
    let strategy = spec.and_then(|s| s.str_at(&["alertmanagerConfigMatcherStrategy", "type"])).unwrap_or("OnNamespace");
    let mut selected: Vec<&crate::model::Object<'_>> = model
        .every("monitoring.coreos.com", "AlertmanagerConfig")
        .map(|(_, o)| o)
        .filter(|o| object_selected(selector, &o.labels()))
        .filter(|o| namespace_selected(model, ns_selector, am.namespace(), o.namespace()))
        .collect();
    selected.sort_by(|a, b| (a.namespace(), &a.id.name).cmp(&(b.namespace(), &b.id.name)));
    let mut routes = Vec::new();
    let mut receivers = Vec::new();
    for o in selected {
        let Some(cr) = o.node.get("spec") else { continue };
        let Some(route) = cr.get("route").filter(|r| r.as_map().is_some()) else { continue };
        let key = cr_key(o.namespace(), &o.id.name);
        let mut route = cr_route(route, &key);
        let enforce = match strategy {
            "None" => false,
            "OnNamespaceExceptForAlertmanagerNamespace" => o.namespace() != am.namespace(),
            _ => true,
        };
        if let Some(r) = route.as_object_mut() {
            if enforce && let Some(Value::Array(m)) = r.get_mut("matchers") {
                m.push(Value::String(format!("namespace=\"{}\"", o.namespace())));
            }
            r.insert("continue".into(), Value::Bool(true));
        }
        routes.push(route);
        receivers.extend(cr_receivers(cr, &key));
    }
    add_routes(config, routes, receivers, true);
}

/// Puts routes under a config's root route, before its own routes (`first`) or after them, and
/// receivers in its list: how the operators merge their config objects.
pub(super) fn add_routes(config: &mut Value, mut routes: Vec<Value>, receivers: Vec<Value>, first: bool) {
    if routes.is_empty() {
        return;
    }
    let Some(root) = config.get_mut("route").and_then(Value::as_object_mut) else { return };
    if let Some(Value::Array(existing)) = root.remove("routes") {
        if first {
            routes.extend(existing);
        } else {
            routes.splice(0..0, existing);
        }
    }
    root.insert("routes".into(), Value::Array(routes));
    if let Some(obj) = config.as_object_mut() {
        match obj.get_mut("receivers") {
            Some(Value::Array(list)) => list.extend(receivers),
            _ => {
                obj.insert("receivers".into(), Value::Array(receivers));
            }
        }
    }
}

/// An Alertmanager config in a ConfigMap of the namespace (the prometheus chart's alertmanager).
pub fn configmap_config(model: &Model<'_>, ns: &str) -> Option<AlertmanagerConfig> {
    model.every("", "ConfigMap").filter(|(_, o)| o.namespace() == ns).find_map(|(i, o)| {
        o.node.path(&["data", "alertmanager.yml"]).or_else(|| o.node.path(&["data", "alertmanager.yaml"]))?;
        config_in(model, i, &["alertmanager.yml", "alertmanager.yaml"])
    })
}

/// A route's regular expression, compiled once per thread: a config from the input is walked
/// for every alert of every workload.
fn cached_regex(value: &str) -> Option<std::rc::Rc<regex::Regex>> {
    use std::cell::RefCell;
    use std::rc::Rc;
    thread_local! {
        static SEEN: RefCell<foldhash::HashMap<String, Option<Rc<regex::Regex>>>> = RefCell::default();
    }
    SEEN.with(|seen| {
        let mut seen = seen.borrow_mut();
        if let Some(r) = seen.get(value) {
            return r.clone();
        }
        let r = crate::config::anchored_regex(value).map(Rc::new);
        if seen.len() < 4096 {
            seen.insert(value.to_owned(), r.clone());
        }
        r
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
    let re = || cached_regex(value);
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
            v.as_str().and_then(cached_regex).is_some_and(|r| r.is_match(actual))
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
