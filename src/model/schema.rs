//! Fields that the Kubernetes type does not have, and values of the wrong type. A typo
//! (`resource:` for `resources:`) is dropped silently by the API server's decoder, and the limits it
//! held with it; a wrong type (`value: yes`, a boolean to Kubernetes' YAML 1.1 reader) fails the apply.
//! The schemas come from k8s-openapi's generated `schemars` implementations.

use foldhash::HashMap;
use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::{ModelProblem, Object};
use crate::input::node::{Key, Kind, Resolved};
use crate::input::{Node, Span};

/// A schema as the walk reads it, with its `$ref`s resolved to indices into [`Compiled::shapes`]:
/// the walk visits every node of every workload, and looking each key up in the schema's JSON
/// (`$ref`, `type`, `properties`...) cost more than the walk itself.
#[derive(Default)]
struct Shape {
    ty: Option<String>,
    props: Option<Props>,
    /// Present when the schema has `additionalProperties`: a map of free keys (labels, data).
    additional: Option<usize>,
    items: Option<usize>,
}

struct Props {
    /// In the schema's order, which the did-you-mean's tie-break follows.
    ordered: Vec<(String, usize)>,
    /// The shape of each, by interned name: the tree's keys are interned, so a lookup compares
    /// handles and reads no text. Only names interned before the schema was compiled (the input's
    /// keys, parsed by then) are here: interning every name of every schema cost 2 MB.
    by_name: ustr::UstrMap<usize>,
}

impl Props {
    fn get(&self, key: &Key) -> Option<usize> {
        match self.by_name.get(&key.interned()) {
            Some(&at) => Some(at),
            // A name no key held when the schema was compiled.
            None => self.ordered.iter().find(|(name, _)| name == key.text()).map(|&(_, at)| at),
        }
    }
}

/// The kinds' schemas, sharing their shapes: eight of them hold a pod spec.
struct Compiled {
    shapes: Vec<Shape>,
    /// The root shape of each kind, by `group/Kind`.
    roots: HashMap<String, usize>,
}

/// `knowledge/kubernetes-schemas.json`: the kinds' schemas with their `$ref`s resolved to indices
/// and all but what the walk reads left out. Embedded rather than generated at each run:
/// generating them with schemars took two thirds of a one-file check's instructions.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Data {
    source: String,
    roots: BTreeMap<String, usize>,
    shapes: Vec<ShapeData>,
}

#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct ShapeData {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    ty: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    properties: Option<Vec<(String, usize)>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    additional: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    items: Option<usize>,
}

/// Read on first use, after the input is parsed: only names interned by then are indexed.
fn schemas() -> &'static Compiled {
    static CELL: OnceLock<Compiled> = OnceLock::new();
    CELL.get_or_init(|| {
        // The embedded file is read by `the_embedded_schemas_are_k8s_openapis` in every test run.
        let data: Data = serde_json::from_str(crate::knowledge::KUBERNETES_SCHEMAS)
            .expect("knowledge/kubernetes-schemas.json reads (tested)");
        let shapes = data
            .shapes
            .into_iter()
            .map(|d| Shape {
                ty: d.ty,
                props: d.properties.map(|ordered| {
                    let by_name =
                        ordered.iter().filter_map(|(k, at)| Some((ustr::Ustr::from_existing(k)?, *at))).collect();
                    Props { ordered, by_name }
                }),
                additional: d.additional,
                items: d.items,
            })
            .collect();
        Compiled { shapes, roots: data.roots.into_iter().collect() }
    })
}

/// Fields reported in one object; past it they are counted, so that a list of half a million
/// mistyped items costs a count, not half a million messages.
const MAX_PER_OBJECT: usize = 500;

#[derive(Default)]
struct Found {
    unknown: Vec<(Key, String, Option<String>)>,
    /// (the value's span, its path, what is wrong with it)
    mistyped: Vec<(Span, String, Mistyped)>,
    /// Past `MAX_PER_OBJECT`: how many more, and where the first of them is.
    left_out: Option<(usize, Span)>,
}

impl Found {
    /// Whether there is room for one more, counting it when there is not.
    fn room(&mut self, span: Span) -> bool {
        if self.unknown.len() + self.mistyped.len() < MAX_PER_OBJECT {
            return true;
        }
        self.left_out.get_or_insert((0, span)).0 += 1;
        false
    }
}

pub fn check_fields(obj: &Object<'_>, problems: &mut Vec<ModelProblem>) {
    let key = format!("{}/{}", obj.id.group(), obj.id.kind);
    let compiled = schemas();
    let Some(&root) = compiled.roots.get(key.as_str()) else { return };
    let mut found = Found::default();
    // A Secret's values never appear in a message, not even a mistyped one.
    let reveal = obj.id.kind != "Secret";
    walk(obj.node, &compiled.shapes, root, &mut Vec::new(), &mut found, 0);
    if let Some((n, span)) = found.left_out {
        problems.push(ModelProblem::invalid_type(
            obj,
            None,
            span,
            format!(
                "{n} more fields of the wrong type or unknown to {} were left out: meterguard lists at most \
                 {MAX_PER_OBJECT} in one object",
                obj.id.kind
            ),
        ));
    }
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
            template: obj.template.cloned(),
            object: Some(obj.id.clone()),
            container,
            span: entry_key.span(),
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

/// One step from an object's root to a node, rendered into a path (`spec.containers[name=app]`)
/// only for a finding: most nodes have none.
enum Step<'n> {
    Field(&'n str),
    /// A key of a free map (labels, data).
    Key(&'n str),
    /// A list item, by its `name` if it has one.
    Item(usize, &'n Node),
}

fn path(steps: &[Step<'_>]) -> String {
    use std::fmt::Write as _;
    let mut path = String::new();
    for step in steps {
        // Writing to a String cannot fail.
        let _ = match step {
            Step::Field(k) if path.is_empty() => write!(path, "{k}"),
            Step::Field(k) => write!(path, ".{k}"),
            Step::Key(k) => write!(path, "[{k}]"),
            Step::Item(i, item) => match item.str_at(&["name"]) {
                Some(n) => write!(path, "[name={n}]"),
                None => write!(path, "[{i}]"),
            },
        };
    }
    path
}

fn walk<'n>(node: &'n Node, shapes: &[Shape], at: usize, steps: &mut Vec<Step<'n>>, found: &mut Found, depth: usize) {
    if depth > 64 {
        return;
    }
    let shape = &shapes[at];
    if let Some(what) = mistyped(node, shape.ty.as_deref()) {
        if found.room(node.span()) {
            found.mistyped.push((node.span(), path(steps), what));
        }
        return;
    }
    if let (Some(entries), Some(props)) = (node.as_map(), &shape.props) {
        for e in entries {
            let Some(k) = e.key.as_str() else { continue };
            steps.push(Step::Field(k));
            match props.get(&e.key) {
                Some(sub) => walk(&e.value, shapes, sub, steps, found, depth + 1),
                None if shape.additional.is_none() && !found.room(e.key.span()) => {}
                None if shape.additional.is_none() => {
                    let suggestion = props
                        .ordered
                        .iter()
                        .map(|(p, _)| (strsim::jaro_winkler(k, p), p))
                        .filter(|(score, _)| *score > 0.8)
                        .max_by(|a, b| a.0.total_cmp(&b.0))
                        .map(|(_, p)| p.clone());
                    found.unknown.push((e.key, path(steps), suggestion));
                }
                None => {}
            }
            steps.pop();
        }
    } else if let (Some(entries), Some(values)) = (node.as_map(), shape.additional) {
        // A map such as labels (string to string): every value against the one schema.
        for e in entries {
            let Some(k) = e.key.as_str() else { continue };
            steps.push(Step::Key(k));
            walk(&e.value, shapes, values, steps, found, depth + 1);
            steps.pop();
        }
    } else if let (Some(items), Some(item_shape)) = (node.as_seq(), shape.items) {
        for (i, item) in items.iter().enumerate() {
            steps.push(Step::Item(i, item));
            walk(item, shapes, item_shape, steps, found, depth + 1);
            steps.pop();
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

fn mistyped(node: &Node, expected: Option<&str>) -> Option<Mistyped> {
    let expected = expected?;
    let (kind, found) = match node.as_scalar() {
        None if node.as_map().is_some() => ("a mapping", String::new()),
        None => ("a list", String::new()),
        Some(s) => match s.resolve() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::node::{Pos, Style};
    use foldhash::HashMapExt;
    use serde_json::Value;

    /// The kinds' schemas as k8s-openapi's schemars implementations give them, compiled into the
    /// embedded form. One generator makes all kinds' schemas, so the definitions they share (the
    /// pod spec and all it holds) are generated and compiled once.
    fn generate() -> Data {
        use k8s_openapi::api::{apps, batch, core, policy};
        use k8s_openapi::schemars::generate::SchemaSettings;
        let mut generator = SchemaSettings::draft2020_12().into_generator();
        let roots = [
            ("apps/Deployment", generator.subschema_for::<apps::v1::Deployment>()),
            ("apps/StatefulSet", generator.subschema_for::<apps::v1::StatefulSet>()),
            ("apps/DaemonSet", generator.subschema_for::<apps::v1::DaemonSet>()),
            ("apps/ReplicaSet", generator.subschema_for::<apps::v1::ReplicaSet>()),
            ("batch/Job", generator.subschema_for::<batch::v1::Job>()),
            ("batch/CronJob", generator.subschema_for::<batch::v1::CronJob>()),
            ("/Pod", generator.subschema_for::<core::v1::Pod>()),
            ("/ReplicationController", generator.subschema_for::<core::v1::ReplicationController>()),
            ("/Service", generator.subschema_for::<core::v1::Service>()),
            ("/PersistentVolumeClaim", generator.subschema_for::<core::v1::PersistentVolumeClaim>()),
            ("policy/PodDisruptionBudget", generator.subschema_for::<policy::v1::PodDisruptionBudget>()),
            ("/ConfigMap", generator.subschema_for::<core::v1::ConfigMap>()),
            ("/Secret", generator.subschema_for::<core::v1::Secret>()),
        ];
        let defs = Value::Object(generator.take_definitions(true));
        let (mut shapes, mut seen) = (Vec::new(), HashMap::new());
        let roots = roots
            .iter()
            .map(|(kind, root)| (kind.to_string(), compile(root.as_value(), &defs, &mut shapes, &mut seen)))
            .collect();
        let source = "k8s-openapi 0.29 (feature `latest`, Kubernetes 1.37), its schemars JsonSchema \
                      implementations; regenerate: METERGUARD_WRITE_SCHEMAS=1 cargo test --lib schema"
            .into();
        Data { source, roots, shapes }
    }

    /// Compiles `schema` (and what it refers to) once; a schema reached again, recursive ones
    /// included, gets the index it already has.
    fn compile(
        schema: &Value,
        defs: &Value,
        shapes: &mut Vec<ShapeData>,
        seen: &mut HashMap<*const Value, usize>,
    ) -> usize {
        let schema = resolve(schema, defs);
        if let Some(&at) = seen.get(&std::ptr::from_ref(schema)) {
            return at;
        }
        let at = shapes.len();
        shapes.push(ShapeData::default());
        seen.insert(std::ptr::from_ref(schema), at);
        let properties = schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.iter().map(|(k, sub)| (k.clone(), compile(sub, defs, shapes, seen))).collect());
        let additional = schema.get("additionalProperties").map(|a| compile(a, defs, shapes, seen));
        let items = schema.get("items").map(|i| compile(i, defs, shapes, seen));
        let ty = schema.get("type").and_then(Value::as_str).map(str::to_owned);
        shapes[at] = ShapeData { ty, properties, additional, items };
        at
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

    #[test]
    fn the_embedded_schemas_are_k8s_openapis() {
        let generated = generate();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/knowledge/kubernetes-schemas.json");
        if std::env::var_os("METERGUARD_WRITE_SCHEMAS").is_some() {
            // One shape a line, so that a new k8s-openapi's changes read as a diff.
            let shapes: Vec<String> = generated.shapes.iter().map(|s| serde_json::to_string(s).unwrap()).collect();
            let text = format!(
                "{{\"source\":{},\n\"roots\":{},\n\"shapes\":[\n{}\n]}}\n",
                serde_json::to_string(&generated.source).unwrap(),
                serde_json::to_string(&generated.roots).unwrap(),
                shapes.join(",\n")
            );
            std::fs::write(path, text).unwrap();
        }
        let embedded: Data = serde_json::from_str(crate::knowledge::KUBERNETES_SCHEMAS).unwrap();
        assert!(embedded == generated, "knowledge/kubernetes-schemas.json is stale: {}", generated.source);
    }

    #[test]
    fn every_kind_reaches_its_own_fields_through_the_shared_definitions() {
        let compiled = schemas();
        assert_eq!(compiled.roots.len(), 13);
        let fields = |root: usize| -> Vec<&str> {
            let props = compiled.shapes[root].props.as_ref();
            props.map(|p| p.ordered.iter().map(|(name, _)| name.as_str()).collect()).unwrap_or_default()
        };
        for (kind, &root) in &compiled.roots {
            let own = fields(root);
            assert!(own.contains(&"apiVersion") && own.contains(&"metadata"), "{kind}: {own:?}");
        }
        // The pod spec is one shape, reached from each kind that holds a pod template.
        let pod_spec = |kind: &str, path: &[&str]| {
            path.iter().try_fold(compiled.roots[kind], |at, field| {
                let props = compiled.shapes[at].props.as_ref()?;
                props.ordered.iter().find(|(name, _)| name == field).map(|&(_, sub)| sub)
            })
        };
        let from_deployment = pod_spec("apps/Deployment", &["spec", "template", "spec"]);
        assert!(from_deployment.is_some_and(|at| fields(at).contains(&"containers")));
        assert_eq!(pod_spec("/Pod", &["spec"]), from_deployment);
        assert_eq!(pod_spec("batch/CronJob", &["spec", "jobTemplate", "spec", "template", "spec"]), from_deployment);
    }

    #[test]
    fn a_name_interned_after_the_schema_was_compiled_is_found_by_its_text() {
        // Made of the test's name, so that nothing interned it before.
        let name = "aNameInternedAfterTheSchemaWasCompiled";
        let props = Props {
            ordered: vec![("other".into(), 1), (name.into(), 2)],
            by_name: [(ustr::Ustr::from("other"), 1)].into_iter().collect(),
        };
        let key = |text: &str| Key::new(Pos::default(), text, Style::Plain, true);
        assert_eq!(props.get(&key("other")), Some(1));
        assert_eq!(props.get(&key(name)), Some(2));
        assert_eq!(props.get(&key("absent")), None);
    }
}
