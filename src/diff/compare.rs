//! Structural comparison of two versions of an object: map key order is never a change, and
//! lists of named items (containers, env, ports, volumes, mounts, rules) are matched by name.

use serde::Serialize;
use serde_json::Value;

use super::emit::{is_noise, item_id, list_key};
use crate::input::redact::{is_credential_flag, is_credential_key, mask_credentials};
use crate::input::{Kind, Node, Span};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
    #[serde(skip)]
    pub noise: bool,
    #[serde(skip)]
    pub old_span: Option<Span>,
    #[serde(skip)]
    pub new_span: Option<Span>,
}

fn value(n: &Node, secret: bool, path: &[String]) -> Value {
    if secret && path.first().is_some_and(|p| matches!(p.as_str(), "data" | "stringData")) {
        return mask(n, path);
    }
    if path.last().is_some_and(|k| crate::input::secrets::secret_under(k, n)) {
        return Value::String("***".into());
    }
    let mut v = n.to_json();
    // An environment variable named for a credential (`...env[name=DB_PASSWORD].value`), or
    // holding an encoded blob of settings (`HELM_VALUES`).
    if let [.., item, last] = path
        && last == "value"
        && let Some(name) = item.strip_prefix("[name=").and_then(|i| i.strip_suffix(']'))
        && (is_credential_key(name) || v.as_str().is_some_and(crate::input::secrets::is_blob))
        && v.is_string()
    {
        return Value::String("***".into());
    }
    if let Some(key) = path.last() {
        mask_credentials_in(key, &mut v);
    }
    v
}

/// Credentials written outside Secrets leave masked: the string value of a credential key, and
/// the credential lines of any text (a ConfigMap's prometheus.yml or alerts.json).
fn mask_credentials_in(key: &str, v: &mut Value) {
    match v {
        Value::String(_) | Value::Number(_) if is_credential_key(key) => *v = "***".into(),
        Value::String(s) => {
            if let std::borrow::Cow::Owned(masked) = mask_credentials(s) {
                *s = masked;
            }
        }
        Value::Array(items) => {
            let mut after_flag = false;
            for i in items {
                let flag = i.as_str().is_some_and(is_credential_flag);
                if after_flag && i.is_string() {
                    *i = "***".into();
                } else {
                    mask_credentials_in("", i);
                }
                after_flag = flag;
            }
        }
        Value::Object(entries) => {
            let blob = entries.get("value").and_then(Value::as_str).is_some_and(crate::input::secrets::is_blob);
            let env_secret = blob || entries.get("name").and_then(Value::as_str).is_some_and(is_credential_key);
            for (k, i) in entries.iter_mut() {
                if env_secret && k == "value" && i.is_string() {
                    *i = "***".into();
                } else {
                    mask_credentials_in(k, i);
                }
            }
        }
        _ => {}
    }
}

/// Secret values never leave as themselves: a value of any shape becomes `***`, except the
/// `data`/`stringData` map itself, whose keys are names, not values.
fn mask(n: &Node, path: &[String]) -> Value {
    match &n.kind {
        Kind::Map(entries) if path.len() == 1 => {
            Value::Object(entries.iter().map(|e| (e.key.text().to_string(), Value::String("***".into()))).collect())
        }
        _ => Value::String("***".into()),
    }
}

fn display(path: &[String]) -> String {
    let mut s = String::new();
    for seg in path {
        if !seg.starts_with('[') && !s.is_empty() {
            s.push('.');
        }
        s.push_str(seg);
    }
    s
}

/// A mapping's values by key; the first of duplicate keys wins, as `Node::get` finds it.
pub(super) fn by_key(entries: &[crate::input::node::Entry]) -> foldhash::HashMap<&str, &Node> {
    let mut m = foldhash::HashMap::default();
    for e in entries {
        m.entry(e.key.text()).or_insert(&e.value);
    }
    m
}

/// A named list's items by their name (`key`); the first of duplicate names wins.
pub(super) fn by_id<'n>(items: &'n [Node], key: &str) -> foldhash::HashMap<&'n str, &'n Node> {
    let mut m = foldhash::HashMap::default();
    for i in items {
        if let Some(id) = item_id(i, key) {
            m.entry(id).or_insert(i);
        }
    }
    m
}

pub fn compare(old: &Node, new: &Node, secret: bool) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let mut path = Vec::new();
    walk(Some(old), Some(new), secret, &mut path, &mut out);
    out
}

fn change(out: &mut Vec<FieldChange>, path: &[String], old: Option<&Node>, new: Option<&Node>, secret: bool) {
    let noise_path: Vec<String> = path.iter().filter(|s| !s.starts_with('[')).cloned().collect();
    out.push(FieldChange {
        path: display(path),
        old: old.map(|n| value(n, secret, path)),
        new: new.map(|n| value(n, secret, path)),
        noise: is_noise(&noise_path),
        old_span: old.map(|n| n.span()),
        new_span: new.map(|n| n.span()),
    });
}

fn walk(old: Option<&Node>, new: Option<&Node>, secret: bool, path: &mut Vec<String>, out: &mut Vec<FieldChange>) {
    match (old, new) {
        (None, None) => {}
        (Some(_), None) | (None, Some(_)) => change(out, path, old, new, secret),
        (Some(o), Some(n)) => match (&o.kind, &n.kind) {
            (Kind::Map(om), Kind::Map(nm)) => {
                // Indexed, not searched: a map of 200,000 keys was compared in quadratic time.
                let old_keys = by_key(om);
                let new_keys = by_key(nm);
                for e in nm {
                    let k = e.key.text();
                    path.push(k.to_owned());
                    walk(old_keys.get(k).copied(), Some(&e.value), secret, path, out);
                    path.pop();
                }
                for e in om {
                    let k = e.key.text();
                    if !new_keys.contains_key(k) {
                        path.push(k.to_owned());
                        walk(Some(&e.value), None, secret, path, out);
                        path.pop();
                    }
                }
            }
            (Kind::Seq(os), Kind::Seq(ns)) => {
                let key = list_key(ns).or_else(|| list_key(os)).filter(|k| {
                    (os.is_empty() || list_key(os) == Some(*k)) && (ns.is_empty() || list_key(ns) == Some(*k))
                });
                match key {
                    Some(k) => {
                        let old_ids = by_id(os, k);
                        let new_ids = by_id(ns, k);
                        for item in ns {
                            let id = item_id(item, k).unwrap_or_default();
                            path.push(format!("[{k}={id}]"));
                            let counterpart = item_id(item, k).and_then(|id| old_ids.get(id).copied());
                            walk(counterpart, Some(item), secret, path, out);
                            path.pop();
                        }
                        for item in os {
                            let id = item_id(item, k).unwrap_or_default();
                            if !item_id(item, k).is_some_and(|id| new_ids.contains_key(id)) {
                                path.push(format!("[{k}={id}]"));
                                walk(Some(item), None, secret, path, out);
                                path.pop();
                            }
                        }
                    }
                    None if os.iter().chain(ns).all(|i| i.as_scalar().is_some()) => {
                        if o.to_json() != n.to_json() {
                            change(out, path, old, new, secret);
                        }
                    }
                    None => {
                        for i in 0..os.len().max(ns.len()) {
                            path.push(format!("[{i}]"));
                            walk(os.get(i), ns.get(i), secret, path, out);
                            path.pop();
                        }
                    }
                }
            }
            (Kind::Scalar(a), Kind::Scalar(b)) => {
                if a != b || o.to_json() != n.to_json() {
                    change(out, path, old, new, secret);
                }
            }
            _ => change(out, path, old, new, secret),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::yaml::parse_stream;

    fn doc(s: &str) -> Node {
        parse_stream(s).documents.remove(0).root
    }

    #[test]
    fn reordering_is_not_a_change() {
        let a = doc("b: 1\na: 2\nc:\n- {name: x, v: 1}\n- {name: y, v: 2}\n");
        let b = doc("a: 2\nb: 1\nc:\n- {name: y, v: 2}\n- {name: x, v: 1}\n");
        assert!(compare(&a, &b, false).is_empty());
    }

    #[test]
    fn named_items_are_matched_by_name() {
        let a = doc("containers:\n- name: p\n  resources: {limits: {memory: 6Gi}}\n");
        let b = doc("containers:\n- name: p\n  resources: {limits: {memory: 3Gi}}\n");
        let c = compare(&a, &b, false);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].path, "containers[name=p].resources.limits.memory");
        assert_eq!(c[0].old, Some(Value::String("6Gi".into())));
    }

    #[test]
    fn secret_values_are_masked() {
        let a = doc("data:\n  k: c2VjcmV0\n");
        let b = doc("data:\n  k: b3RoZXI=\n  j: bmV3\n");
        let c = compare(&a, &b, true);
        let text = serde_json::to_string(&c).unwrap();
        assert!(!text.contains("c2VjcmV0") && !text.contains("b3RoZXI") && !text.contains("bmV3"));
        assert_eq!(c.len(), 2);
    }
}
