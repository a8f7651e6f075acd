//! Fields that the Kubernetes type does not have, and values of the wrong type. A typo
//! (`resource:` for `resources:`) is dropped silently by the API server's decoder, and the limits it
//! held with it; a wrong type (`value: yes`, a boolean to Kubernetes' YAML 1.1 reader) fails the apply.
//! The schemas come from k8s-openapi's generated `schemars` implementations.

use std::collections::HashMap;
use std::sync::OnceLock;

use k8s_openapi::api::{apps, batch, core, policy};
use k8s_openapi::schemars::{JsonSchema, generate::SchemaSettings};
use serde_json::Value;

use super::{ModelProblem, Object};
use crate::input::node::{Kind, Resolved};
use crate::input::{Node, Span};

type Schemas = HashMap<&'static str, Value>;

fn schema_of<T: JsonSchema>() -> Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    generator.into_root_schema_for::<T>().to_value()
}

fn schemas() -> &'static Schemas {
    static CELL: OnceLock<Schemas> = OnceLock::new();
    CELL.get_or_init(|| {
        let mut m = HashMap::new();
        m.insert("apps/Deployment", schema_of::<apps::v1::Deployment>());
        m.insert("apps/StatefulSet", schema_of::<apps::v1::StatefulSet>());
        m.insert("apps/DaemonSet", schema_of::<apps::v1::DaemonSet>());
        m.insert("apps/ReplicaSet", schema_of::<apps::v1::ReplicaSet>());
        m.insert("batch/Job", schema_of::<batch::v1::Job>());
        m.insert("batch/CronJob", schema_of::<batch::v1::CronJob>());
        m.insert("/Pod", schema_of::<core::v1::Pod>());
        m.insert("/ReplicationController", schema_of::<core::v1::ReplicationController>());
        m.insert("/Service", schema_of::<core::v1::Service>());
        m.insert("/PersistentVolumeClaim", schema_of::<core::v1::PersistentVolumeClaim>());
        m.insert("policy/PodDisruptionBudget", schema_of::<policy::v1::PodDisruptionBudget>());
        m.insert("/ConfigMap", schema_of::<core::v1::ConfigMap>());
        m.insert("/Secret", schema_of::<core::v1::Secret>());
        m
    })
}

#[derive(Default)]
struct Found {
    unknown: Vec<(Node, String, Option<String>)>,
    /// (the value's span, its path, what is wrong with it)
    mistyped: Vec<(Span, String, Mistyped)>,
}

pub fn check_fields(obj: &Object<'_>, problems: &mut Vec<ModelProblem>) {
    let key = format!("{}/{}", obj.id.group(), obj.id.kind);
    let Some(schema) = schemas().get(key.as_str()) else { return };
    let defs = schema.get("$defs").unwrap_or(&Value::Null);
    let mut found = Found::default();
    // A Secret's values never appear in a message, not even a mistyped one.
    let reveal = obj.id.kind != "Secret";
    walk(obj.node, schema, defs, &mut String::new(), &mut found, 0);
    for (span, path, what) in found.mistyped {
        let what = if reveal { what.full } else { what.bare };
        problems.push(ModelProblem::invalid_type(obj, container_of(&path), span, format!("`{path}`: {what}")));
    }
    for (entry_key, path, suggestion) in found.unknown {
        let (container, help) = (
            container_of(&path),
            match &suggestion {
                Some(s) => format!(
                    "did you mean `{s}`? The API server drops unknown fields without a word, so whatever this field holds is not applied"
                ),
                None => {
                    "the API server drops unknown fields without a word, so whatever this field holds is not applied"
                        .into()
                }
            },
        );
        problems.push(ModelProblem {
            not_manifest: false,
            rule: "schema/unknown-field",
            source: obj.source,
            template: obj.template.map(str::to_owned),
            object: Some(obj.id.clone()),
            container,
            span: entry_key.span,
            message: format!(
                "`{path}` is not a field of {}{}",
                obj.id.kind,
                suggestion.map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default()
            ),
            help,
        });
    }
}

fn container_of(path: &str) -> Option<String> {
    let start = path.find("containers[name=").or_else(|| path.find("Containers[name="))?;
    let rest = &path[start..];
    let open = rest.find('=')? + 1;
    let close = rest.find(']')?;
    Some(rest[open..close].to_owned())
}

fn resolve<'s>(mut schema: &'s Value, defs: &'s Value) -> &'s Value {
    for _ in 0..8 {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => match r.rsplit('/').next().and_then(|name| defs.get(name)) {
                Some(s) => schema = s,
                None => break,
            },
            None => break,
        }
    }
    schema
}

fn walk(node: &Node, schema: &Value, defs: &Value, path: &mut String, found: &mut Found, depth: usize) {
    if depth > 64 {
        return;
    }
    let schema = resolve(schema, defs);
    if let Some(what) = mistyped(node, schema) {
        found.mistyped.push((node.span, path.clone(), what));
        return;
    }
    if let (Some(entries), Some(props)) = (node.as_map(), schema.get("properties").and_then(Value::as_object)) {
        for e in entries {
            let Some(k) = e.key.as_str() else { continue };
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(k);
            match props.get(k) {
                Some(sub) => walk(&e.value, sub, defs, path, found, depth + 1),
                None if schema.get("additionalProperties").is_none() => {
                    let suggestion = props
                        .keys()
                        .map(|p| (strsim::jaro_winkler(k, p), p))
                        .filter(|(score, _)| *score > 0.8)
                        .max_by(|a, b| a.0.total_cmp(&b.0))
                        .map(|(_, p)| p.clone());
                    found.unknown.push((e.key.clone(), path.clone(), suggestion));
                }
                None => {}
            }
            path.truncate(len);
        }
    } else if let (Some(entries), Some(values)) = (node.as_map(), schema.get("additionalProperties")) {
        // A map such as labels (string to string): every value against the one schema.
        for e in entries {
            let Some(k) = e.key.as_str() else { continue };
            let len = path.len();
            path.push_str(&format!("[{k}]"));
            walk(&e.value, values, defs, path, found, depth + 1);
            path.truncate(len);
        }
    } else if let (Some(items), Some(item_schema)) = (node.as_seq(), schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            let len = path.len();
            match item.str_at(&["name"]) {
                Some(n) => path.push_str(&format!("[name={n}]")),
                None => path.push_str(&format!("[{i}]")),
            }
            walk(item, item_schema, defs, path, found, depth + 1);
            path.truncate(len);
        }
    }
}

/// What is wrong with a value's type as Kubernetes decodes it, if anything. `null` is always
/// accepted (the field is unset); int-or-string fields (ports, quantities) take either.
struct Mistyped {
    full: String,
    /// Without the value, for Secrets.
    bare: String,
}

fn mistyped(node: &Node, schema: &Value) -> Option<Mistyped> {
    let expected = schema.get("type")?.as_str()?;
    let (kind, found) = match &node.kind {
        Kind::Map(_) => ("a mapping", String::new()),
        Kind::Seq(_) => ("a list", String::new()),
        Kind::Scalar(s) => match s.resolve() {
            Resolved::Null => return None,
            Resolved::Bool(b) => match expected {
                "boolean" => return None,
                _ => ("a boolean", format!(" `{b}` (written `{}`)", s.text)),
            },
            Resolved::Int(i) => match expected {
                "integer" | "number" => return None,
                _ if s.text == i.to_string() => ("a number", format!(" `{i}`")),
                _ => ("a number", format!(" `{i}` (written `{}`)", s.text)),
            },
            Resolved::Float(f) => match expected {
                "number" => return None,
                "integer" if f.fract() == 0.0 && f.is_finite() => return None,
                _ => ("a number", format!(" `{}`", s.text)),
            },
            Resolved::Str(t) => match expected {
                "string" => return None,
                _ => ("a string", format!(" {}", serde_json::Value::String(t.to_owned()))),
            },
        },
    };
    let fits = matches!((&node.kind, expected), (Kind::Map(_), "object") | (Kind::Seq(_), "array"));
    if fits {
        return None;
    }
    let wanted = match expected {
        "string" => "a string",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "a boolean",
        "object" => "a mapping",
        "array" => "a list",
        other => other,
    };
    Some(Mistyped {
        full: format!("expected {wanted}, found {kind}{found}"),
        bare: format!("expected {wanted}, found {kind}"),
    })
}
