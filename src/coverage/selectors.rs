//! The `selectors` of a Kubernetes service discovery config: a label selector and a field
//! selector per role, in the API server's string syntax (`app=opencost,tier in (a,b)`,
//! `metadata.name=opencost`), which limit what discovery lists before any relabeling.
//!
//! No maintained crate parses that syntax (kube-core builds selectors but does not parse them);
//! the grammar is that of k8s.io/apimachinery `labels.Parse`, and `fields.ParseSelector` for the
//! `=`, `==` and `!=` a field selector allows.

use serde_json::Value;

use crate::model::LabelSet;

#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

impl Requirement {
    fn holds(&self, get: &dyn Fn(&str) -> Option<String>) -> bool {
        match self {
            Requirement::Equals(k, v) => get(k).as_deref() == Some(v),
            Requirement::NotEquals(k, v) => get(k).as_deref() != Some(v),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.contains(&x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.contains(&x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
        }
    }
}

/// The requirements of a label selector string, or None when it is not valid syntax.
fn parse_labels(text: &str) -> Option<Vec<Requirement>> {
    let mut out = Vec::new();
    for part in split_top(text) {
        let part = part.trim();
        if part.is_empty() {
            return None;
        }
        if let Some(key) = part.strip_prefix('!') {
            out.push(Requirement::NotExists(key.trim().to_owned()));
        } else if let Some((k, v)) = part.split_once("!=") {
            out.push(Requirement::NotEquals(k.trim().to_owned(), v.trim().to_owned()));
        } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
            out.push(Requirement::Equals(k.trim().to_owned(), v.trim().to_owned()));
        } else if let Some((k, set)) = set_based(part, "notin") {
            out.push(Requirement::NotIn(k, set));
        } else if let Some((k, set)) = set_based(part, "in") {
            out.push(Requirement::In(k, set));
        } else if part.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)) {
            out.push(Requirement::Exists(part.to_owned()));
        } else {
            return None;
        }
    }
    Some(out)
}

/// `key in (a, b)` (or `key in(a,b)`): the key and the values.
fn set_based(part: &str, op: &str) -> Option<(String, Vec<String>)> {
    let (k, rest) = part.split_once(char::is_whitespace)?;
    let inner = rest.trim_start().strip_prefix(op)?.trim().strip_prefix('(')?.strip_suffix(')')?;
    Some((k.to_owned(), inner.split(',').map(|v| v.trim().to_owned()).collect()))
}

/// Splits at the commas outside parentheses.
fn split_top(text: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// What discovery lists of one role: the objects whose labels and fields pass every selector
/// given for that role.
#[derive(Debug, Default)]
pub struct RoleSelectors {
    /// (role, label requirements, field requirements)
    by_role: Vec<(String, Vec<Requirement>, Vec<Requirement>)>,
}

impl RoleSelectors {
    /// The selectors of one `kubernetes_sd_configs` entry (roles lowercased, as the operator's
    /// `Pod`, `Endpoints`... become), or None when one of them is not valid syntax.
    pub fn of(sd: &Value) -> Option<RoleSelectors> {
        let mut by_role = Vec::new();
        for s in sd.get("selectors").and_then(Value::as_array).into_iter().flatten() {
            let role = s.get("role").and_then(Value::as_str).unwrap_or_default().to_lowercase();
            let text = |key| s.get(key).and_then(Value::as_str).unwrap_or_default();
            let labels = if text("label").is_empty() { Vec::new() } else { parse_labels(text("label"))? };
            // A field selector allows only `=`, `==` and `!=`.
            let fields = if text("field").is_empty() { Vec::new() } else { parse_labels(text("field"))? };
            if fields.iter().any(|r| !matches!(r, Requirement::Equals(..) | Requirement::NotEquals(..))) {
                return None;
            }
            by_role.push((role, labels, fields));
        }
        Some(RoleSelectors { by_role })
    }

    /// Whether an object of `role` passes. `name` is None for a pod, whose name is generated:
    /// a field selector on it cannot be judged, and the pod is taken as not listed.
    pub fn admits(&self, role: &str, namespace: &str, name: Option<&str>, labels: &impl LabelSet) -> bool {
        self.by_role.iter().filter(|(r, ..)| r == role).all(|(_, label_reqs, field_reqs)| {
            let label = |k: &str| labels.label(k).map(str::to_owned);
            let fields_known = field_reqs.iter().all(|r| {
                let key = match r {
                    Requirement::Equals(k, _) | Requirement::NotEquals(k, _) => k.as_str(),
                    _ => "",
                };
                key == "metadata.namespace" || (key == "metadata.name" && name.is_some())
            });
            let field = |k: &str| match k {
                "metadata.namespace" => Some(namespace.to_owned()),
                "metadata.name" => name.map(str::to_owned),
                _ => None,
            };
            label_reqs.iter().all(|r| r.holds(&label)) && fields_known && field_reqs.iter().all(|r| r.holds(&field))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn label_selector_strings_parse_as_the_api_server_reads_them() {
        let reqs = parse_labels("app=opencost, tier in (a, b),!legacy,env!=dev,team").unwrap();
        assert_eq!(reqs.len(), 5);
        let labels: BTreeMap<&str, &str> = [("app", "opencost"), ("tier", "b"), ("team", "x")].into();
        let get = |k: &str| labels.get(k).map(|v| (*v).to_owned());
        assert!(reqs.iter().all(|r| r.holds(&get)));
        let other: BTreeMap<&str, &str> = [("app", "opencost"), ("tier", "c"), ("team", "x")].into();
        let get = |k: &str| other.get(k).map(|v| (*v).to_owned());
        assert!(!reqs.iter().all(|r| r.holds(&get)), "tier c is not in (a, b)");
        assert!(parse_labels("a=b,,c").is_none());
        assert!(parse_labels("a in b").is_none());
        assert_eq!(parse_labels("x notin (y)").unwrap(), [Requirement::NotIn("x".into(), vec!["y".into()])]);
        assert_eq!(parse_labels(" x in(y,z) ").unwrap(), [Requirement::In("x".into(), vec!["y".into(), "z".into()])]);
        assert!(parse_labels("x index (y)").is_none());
    }

    fn sd(yaml: &str) -> Value {
        crate::input::yaml::parse_stream(yaml).documents[0].root.to_json()
    }

    #[test]
    fn selectors_apply_to_their_role_only() {
        let s = RoleSelectors::of(&sd(
            "role: endpoints\nselectors:\n- {role: Service, label: app.kubernetes.io/name=opencost}\n- {role: pod, field: metadata.name=x}\n",
        ))
        .unwrap();
        let labels: BTreeMap<&str, &str> = [("app.kubernetes.io/name", "opencost")].into();
        let none: BTreeMap<&str, &str> = BTreeMap::new();
        assert!(s.admits("service", "opencost", Some("opencost"), &labels));
        assert!(!s.admits("service", "opencost", Some("opencost"), &none));
        assert!(!s.admits("pod", "opencost", None, &labels), "a pod's name is not known");
        assert!(s.admits("endpointslice", "opencost", None, &none), "no selector for that role");
        let by_ns = RoleSelectors::of(&sd("selectors: [{role: pod, field: metadata.namespace!=kube-system}]")).unwrap();
        assert!(by_ns.admits("pod", "opencost", None, &none));
        assert!(!by_ns.admits("pod", "kube-system", None, &none));
        assert!(RoleSelectors::of(&sd("selectors: [{role: pod, field: 'spec.nodeName in (a)'}]")).is_none());
    }
}
