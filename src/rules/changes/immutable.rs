//! Change rules, continued: changes the API server refuses to apply. An upgrade that changes an
//! immutable field fails at that object (`field is immutable`, `Forbidden`): helm upgrade stops
//! and marks the release failed (or rolls it back with --atomic), so nothing after it ships,
//! metering fixes included. Judged on the field changes of the annotated diff (`diff/compare.rs`).

use serde_json::Value;

use crate::diff::ObjectChange;
use crate::diff::compare::FieldChange;
use crate::input::{Node, Span};
use crate::model::quantity::Quantity;
use crate::model::{Model, Object};
use crate::rules::{Finding, rule};

rule!(
    IMMUTABLE_FIELD_CHANGED,
    "diff/immutable-field-changed",
    Error,
    "a change the API server refuses: a field that cannot be updated differs",
    "Some fields cannot change once an object exists, and the API server rejects an update that \
     changes them: a Deployment's, DaemonSet's or ReplicaSet's spec.selector; a StatefulSet's spec \
     beyond replicas, ordinals, template, updateStrategy, revisionHistoryLimit, \
     persistentVolumeClaimRetentionPolicy and minReadySeconds (its selector, serviceName, \
     podManagementPolicy and volumeClaimTemplates, down to their labels); a Job's selector and pod \
     template; a PersistentVolumeClaim's spec beyond resources.requests and volumeAttributesClassName \
     (and requests.storage only grows, on a StorageClass with allowVolumeExpansion); a Service's \
     spec.clusterIP once set; a RoleBinding's or ClusterRoleBinding's roleRef; an immutable ConfigMap \
     or Secret; a StorageClass's provisioner, parameters, reclaimPolicy and volumeBindingMode. helm \
     upgrade stops at the first such object and the release is failed (or rolled back with --atomic), \
     so nothing after it is applied. Values equal once Kubernetes defaults them (an omitted \
     podManagementPolicy and OrderedReady, an empty list and none, 10Gi and 10240Mi) are no change. \
     Keep the field, or replace the object on purpose (the message says how for each kind; helm \
     upgrade --force replaces every changed object, with the downtime that brings). A Job that is a \
     Helm or Argo CD hook, or that deletes itself after it finishes, is recreated rather than \
     updated and is not judged."
);

/// What a kind keeps fixed: the roots of its immutable fields (or `spec` minus the mutable ones),
/// and how to make the change anyway.
struct Fixed {
    roots: &'static [&'static str],
    /// Fields under a root that may change.
    mutable: &'static [&'static str],
    /// The API server's reason, as its error says it.
    why: &'static str,
    help: &'static str,
}

fn fixed(obj: &Object<'_>) -> Option<Fixed> {
    let id = &obj.id;
    let (group, kind) = (id.group(), id.kind.as_str());
    Some(match (group, kind) {
        ("apps", "Deployment" | "DaemonSet" | "ReplicaSet") => Fixed {
            roots: &["spec.selector"],
            mutable: &[],
            why: "spec.selector: field is immutable",
            help: "keep the old selector (add labels to the pod template instead), or delete the object before \
                   the upgrade so that it is created anew",
        },
        ("apps", "StatefulSet") => Fixed {
            roots: &["spec"],
            mutable: &[
                "spec.replicas",
                "spec.ordinals",
                "spec.template",
                "spec.updateStrategy",
                "spec.revisionHistoryLimit",
                "spec.persistentVolumeClaimRetentionPolicy",
                "spec.minReadySeconds",
            ],
            why: "updates to statefulset spec for fields other than replicas, ordinals, template, updateStrategy, \
                  revisionHistoryLimit, persistentVolumeClaimRetentionPolicy and minReadySeconds are forbidden",
            help: "keep these fields, or delete the StatefulSet with --cascade=orphan before the upgrade: its pods \
                   and claims stay, and the new StatefulSet adopts them",
        },
        ("batch", "Job") if !recreated_job(obj.node) => Fixed {
            roots: &["spec.selector", "spec.template"],
            mutable: &[],
            why: "a Job's selector and template are immutable",
            help: "make it a hook (helm.sh/hook with hook-delete-policy: before-hook-creation), or give it a new \
                   name for each release",
        },
        ("", "PersistentVolumeClaim") => Fixed {
            roots: &["spec"],
            mutable: &["spec.resources.requests", "spec.volumeAttributesClassName"],
            why: "spec is immutable after creation except resources.requests and volumeAttributesClassName",
            help: "keep the claim's spec; to grow it, raise only resources.requests.storage, on a StorageClass with \
                   allowVolumeExpansion: true",
        },
        ("", "Service") => Fixed {
            roots: &["spec.clusterIP"],
            mutable: &[],
            why: "spec.clusterIP: field is immutable",
            help: "leave spec.clusterIP as it was (or unset, so the allocated address is kept), or delete the Service \
                   before the upgrade",
        },
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => Fixed {
            roots: &["roleRef"],
            mutable: &[],
            why: "cannot change roleRef",
            help: "give the binding a new name, or delete it before the upgrade",
        },
        ("", "ConfigMap" | "Secret") => Fixed {
            roots: &["data", "binaryData", "stringData", "immutable"],
            mutable: &[],
            why: "field is immutable when `immutable` is set",
            help: "give the changed object a new name (a hash of its content as a suffix) and point its users at it",
        },
        ("storage.k8s.io", "StorageClass") => Fixed {
            roots: &["provisioner", "parameters", "reclaimPolicy", "volumeBindingMode"],
            mutable: &[],
            why: "a StorageClass's provisioner, parameters, reclaimPolicy and volumeBindingMode are immutable",
            help: "create a StorageClass under a new name; claims keep the class they were provisioned with",
        },
        _ => return None,
    })
}

/// A Job that is a Helm or Argo CD hook, or that deletes itself once finished, is created anew on
/// the next release instead of updated.
fn recreated_job(job: &Node) -> bool {
    let hook = ["helm.sh/hook", "argocd.argoproj.io/hook"];
    let annotations = job.path(&["metadata", "annotations"]);
    hook.iter().any(|h| annotations.and_then(|a| a.get(h)).is_some())
        || job.path(&["spec", "ttlSecondsAfterFinished"]).is_some_and(|n| !n.is_null())
}

/// `path` under `root`: the root itself, or a field or item below it.
fn under(path: &str, root: &str) -> bool {
    path.strip_prefix(root).is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

/// Values Kubernetes defaults an omitted field to, per path suffix: writing them out, or leaving
/// them out, is no change. Server-set fields of a claim template are not the chart's.
fn defaulted(path: &str, v: &Value) -> bool {
    let empty = match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    };
    let default = |suffix: &str, value: &str| path.ends_with(suffix) && v.as_str() == Some(value);
    empty
        || default("spec.podManagementPolicy", "OrderedReady")
        || default("spec.volumeMode", "Filesystem")
        || default("reclaimPolicy", "Delete")
        || default("volumeBindingMode", "Immediate")
        || v == &Value::Bool(false) && path == "immutable"
}

/// Fields the API server sets on a claim template or a claim itself, which no render decides.
fn server_set(path: &str) -> bool {
    let template = path.starts_with("spec.volumeClaimTemplates[");
    let tail = path.split_once(']').map_or("", |(_, t)| t);
    template && [".apiVersion", ".kind", ".status", ".metadata.creationTimestamp"].iter().any(|f| under(tail, f))
}

/// Whether the two sides of a field change are the same value to Kubernetes: one side left to
/// its default, or two spellings of one quantity.
fn same_value(c: &FieldChange) -> bool {
    let left_out = |v: &Option<Value>| v.as_ref().is_none_or(|v| defaulted(&c.path, v));
    match (&c.old, &c.new) {
        _ if left_out(&c.old) && left_out(&c.new) => true,
        (Some(Value::String(a)), Some(Value::String(b))) if c.path.contains("resources.") => {
            matches!((Quantity::parse(a), Quantity::parse(b)), (Ok(x), Ok(y)) if x.as_f64() == y.as_f64())
        }
        _ => false,
    }
}

/// Fields the server fills when the render leaves them out: a bound claim's volumeName and its
/// default StorageClass's name, a Service's allocated clusterIP. A render that starts to name
/// them may name what the server chose; a Service that stops naming its address keeps it.
fn filled_by_server(c: &FieldChange, kind: &str) -> bool {
    match kind {
        "PersistentVolumeClaim" => {
            c.old.is_none() && ["spec.volumeName", "spec.storageClassName"].contains(&c.path.as_str())
        }
        "Service" => c.old.is_none() || c.new.is_none(),
        _ => false,
    }
}

pub fn check(old: &Model<'_>, new: &Model<'_>, changes: &[ObjectChange], out: &mut Vec<Finding>) {
    for ch in changes {
        let (Some(oi), Some(ni)) = (ch.old, ch.new) else { continue };
        let (o, n) = (&old.objects[oi], &new.objects[ni]);
        let Some(rules) = fixed(n) else { continue };
        if is_config(n) && !is_immutable(o) {
            continue;
        }
        let refused: Vec<&FieldChange> = ch
            .fields
            .iter()
            .filter(|c| rules.roots.iter().any(|r| under(&c.path, r)))
            .filter(|c| !rules.mutable.iter().any(|m| under(&c.path, m)))
            .filter(|c| !same_value(c) && !server_set(&c.path) && !filled_by_server(c, &n.id.kind))
            .collect();
        let storage = claim_resize(new, n, ch);
        if refused.is_empty() && storage.is_none() {
            continue;
        }
        let (span, what, why) = match (refused.first(), storage) {
            (Some(c), _) => (anchor(n, c), describe(o, n, &refused), rules.why.to_owned()),
            (None, Some(resize)) => resize,
            (None, None) => continue,
        };
        let message = format!(
            "{} changes {what}: the API server refuses the update ({why}), so the upgrade fails at this object",
            n.id.display()
        );
        out.push(Finding::on_object(&IMMUTABLE_FIELD_CHANGED, n, span, message, rules.help.into()));
    }
}

fn is_config(o: &Object<'_>) -> bool {
    o.is("", "ConfigMap") || o.is("", "Secret")
}

fn is_immutable(o: &Object<'_>) -> bool {
    o.node.get("immutable").and_then(Node::as_str) == Some("true")
}

/// Where a refused change shows in the new render: its own node, else the nearest field of its
/// path that the new object still has.
fn anchor(n: &Object<'_>, c: &FieldChange) -> Span {
    if let Some(s) = c.new_span {
        return s;
    }
    let keys: Vec<&str> = c.path.split(['.', '[']).take_while(|k| !k.ends_with(']')).collect();
    (1..=keys.len())
        .rev()
        .find_map(|i| n.node.path(&keys[..i]).map(Node::span))
        .unwrap_or_else(|| n.node.get("metadata").map_or(n.node.span(), Node::span))
}

/// The refused fields: the field that holds them all, with its old and new values when they
/// are short (never a ConfigMap's or Secret's, whose data may be anything), else their paths.
fn describe(o: &Object<'_>, n: &Object<'_>, refused: &[&FieldChange]) -> String {
    const SHORT: usize = 160;
    let short = |v: &Option<Value>| match v {
        None => Some("(none)".to_owned()),
        Some(Value::String(s)) => Some(s.clone()),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Some(v.to_string()),
        _ => None,
    };
    let config = is_config(n);
    if let [c] = refused
        && !config
        && let (Some(a), Some(b)) = (short(&c.old), short(&c.new))
        && a.chars().count() + b.chars().count() <= SHORT
    {
        return format!("{} from {a} to {b}", c.path);
    }
    let parent = common_parent(refused);
    let compact = |obj: &Object<'_>| {
        let keys: Vec<&str> = parent.split('.').collect();
        obj.node.path(&keys).map_or_else(|| "(none)".to_owned(), |node| node.to_json().to_string())
    };
    let (a, b) = (compact(o), compact(n));
    if !config && !parent.is_empty() && !parent.contains('[') && a.chars().count() + b.chars().count() <= SHORT {
        return format!("{parent} from {a} to {b}");
    }
    let named: Vec<&str> = refused.iter().take(3).map(|c| c.path.as_str()).collect();
    match refused.len().saturating_sub(3) {
        0 => named.join(", "),
        more => format!("{} and {more} more", named.join(", ")),
    }
}

/// The longest dotted path every refused change lies under; keys with dots (label names) end it.
fn common_parent(refused: &[&FieldChange]) -> String {
    let split = |c: &FieldChange| c.path.split('.').map(str::to_owned).collect::<Vec<_>>();
    let Some(first) = refused.first() else { return String::new() };
    let mut parent = split(first);
    if refused.len() > 1 || parent.len() > 1 {
        for c in &refused[1..] {
            let other = split(c);
            let same = parent.iter().zip(&other).take_while(|(a, b)| a == b).count();
            parent.truncate(same);
        }
    }
    // A single change names its own field; label keys with dots are cut at their first dot, so
    // the parent stops at the map that holds them.
    if refused.len() > 1 {
        let known = ["spec", "selector", "matchLabels", "matchExpressions", "roleRef", "template", "metadata"];
        while parent.last().is_some_and(|k| !known.contains(&k.as_str()) && parent.len() > 1) {
            parent.pop();
        }
    }
    parent.join(".")
}

/// A claim's storage request may only grow, and only on a class that allows expansion: a smaller
/// request is refused, and so is a larger one on a class of the render without allowVolumeExpansion.
fn claim_resize(new: &Model<'_>, n: &Object<'_>, ch: &ObjectChange) -> Option<(Span, String, String)> {
    if !n.is("", "PersistentVolumeClaim") {
        return None;
    }
    let c = ch.fields.iter().find(|c| c.path == "spec.resources.requests.storage")?;
    let (Some(Value::String(a)), Some(Value::String(b))) = (&c.old, &c.new) else { return None };
    let (before, after) = (Quantity::parse(a).ok()?.as_f64(), Quantity::parse(b).ok()?.as_f64());
    let span = c.new_span?;
    let what = format!("spec.resources.requests.storage from {a} to {b}");
    if after < before {
        return Some((span, what, "a claim's storage request can not be less than before".into()));
    }
    let class_name = n.node.str_at(&["spec", "storageClassName"])?;
    let class =
        new.of_kind("StorageClass", "").find(|s| s.id.name == class_name && s.id.group() == "storage.k8s.io")?;
    let expands = class.node.get("allowVolumeExpansion").and_then(Node::as_str) == Some("true");
    let why = format!("StorageClass {class_name} does not allow volume expansion");
    (after > before && !expands).then_some((span, what, why))
}
