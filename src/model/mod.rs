//! Step 2: documents -> Kubernetes objects and workloads, typed with k8s-openapi where the kind is known.

pub mod prometheus;
pub mod prune;
pub mod quantity;
pub mod references;
pub mod schema;
pub mod workload;

use foldhash::HashMap;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;

use serde::Serialize;

use crate::input::{Document, Inputs, Node, SourceId, Span};

pub use workload::{ContainerInfo, ContainerRole, ContainerSpec, Operated, Workload};

/// The identity of an object, as printed in every output format.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjectId {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectId {
    /// API group without the version: objects are matched across an apiVersion change.
    pub fn group(&self) -> &str {
        match self.api_version.rsplit_once('/') {
            Some((g, _)) => g,
            None => "",
        }
    }

    pub fn is(&self, group: &str, kind: &str) -> bool {
        self.kind == kind && self.group() == group
    }

    /// A kind that runs to completion (batch/v1 Job or CronJob): never down, never crash-looping.
    pub fn is_batch(&self) -> bool {
        self.is("batch", "Job") || self.is("batch", "CronJob")
    }

    pub fn display(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {}/{}", self.kind, ns, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }
}

#[derive(Debug)]
pub struct Object<'a> {
    /// Shared with the findings about the object.
    pub id: Arc<ObjectId>,
    pub source: SourceId,
    pub template: Option<&'a Arc<str>>,
    pub node: &'a Node,
}

impl<'a> Object<'a> {
    pub fn labels(&self) -> BTreeMap<&'a str, &'a str> {
        string_map(self.node.path(&["metadata", "labels"]))
    }

    pub fn annotations(&self) -> BTreeMap<&'a str, &'a str> {
        string_map(self.node.path(&["metadata", "annotations"]))
    }

    pub fn namespace(&self) -> &str {
        self.id.namespace.as_deref().unwrap_or("")
    }

    pub fn is(&self, group: &str, kind: &str) -> bool {
        self.id.is(group, kind)
    }

    /// The text a ConfigMap or Secret holds under `key`: a Secret's `stringData`, else its `data`
    /// decoded from base64; a ConfigMap's `data`. For parsing only: Secret values are never shown.
    pub fn data_text(&self, key: &str) -> Option<Cow<'a, str>> {
        let secret = self.id.kind == "Secret";
        if secret && let Some(v) = self.node.path(&["stringData", key]).and_then(Node::as_str) {
            return Some(Cow::Borrowed(v));
        }
        let v = self.node.path(&["data", key]).and_then(Node::as_str)?;
        if !secret {
            return Some(Cow::Borrowed(v));
        }
        let compact: String = v.split_whitespace().collect();
        let bytes = base64::engine::general_purpose::STANDARD.decode(compact).ok()?;
        String::from_utf8(bytes).ok().map(Cow::Owned)
    }
}

/// Labels (or annotations) kept for the whole run: pairs sorted by key, one value each. A
/// `BTreeMap` allocates a 368-byte node for the two labels of a typical pod, and a render holds
/// tens of thousands of pods.
#[derive(Debug, Clone, Default)]
pub struct Labels<'a>(Box<[(&'a str, &'a str)]>);

impl<'a> Labels<'a> {
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.0.binary_search_by(|(k, _)| (*k).cmp(key)).ok().map(|i| self.0[i].1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        self.0.iter().copied()
    }
}

impl<'a> From<BTreeMap<&'a str, &'a str>> for Labels<'a> {
    fn from(m: BTreeMap<&'a str, &'a str>) -> Labels<'a> {
        Labels(m.into_iter().collect())
    }
}

/// Looking a label up, in a `Labels` or in a map made for the moment.
pub trait LabelSet {
    fn label(&self, key: &str) -> Option<&str>;
}

impl LabelSet for Labels<'_> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key)
    }
}

impl LabelSet for BTreeMap<&str, &str> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).copied()
    }
}

pub fn string_map(node: Option<&Node>) -> BTreeMap<&str, &str> {
    let mut m = BTreeMap::new();
    if let Some(entries) = node.and_then(Node::as_map) {
        for e in entries {
            if let (Some(k), Some(v)) = (e.key.as_str(), e.value.as_scalar()) {
                m.insert(k, v.text);
            }
        }
    }
    m
}

/// A problem found while modelling: the object is still kept where possible.
#[derive(Debug, Clone)]
pub struct ModelProblem {
    pub rule: &'static str,
    pub source: SourceId,
    pub template: Option<Arc<str>>,
    pub object: Option<Arc<ObjectId>>,
    pub container: Option<String>,
    pub span: Span,
    pub message: String,
    pub help: String,
    /// A YAML document that is no Kubernetes object at all (neither apiVersion nor kind).
    pub not_manifest: bool,
}

impl ModelProblem {
    /// A value of the wrong type, which the API server rejects (found by the schema walk or by the
    /// typed model, whichever reads the field).
    pub fn invalid_type(obj: &Object<'_>, container: Option<String>, span: Span, message: String) -> ModelProblem {
        ModelProblem {
            not_manifest: false,
            rule: "schema/invalid-type",
            source: obj.source,
            template: obj.template.cloned(),
            object: Some(obj.id.clone()),
            container,
            span,
            message,
            help: "Kubernetes rejects an object whose field has the wrong type. kubectl and Helm read YAML as YAML \
                   1.1 does: `yes`, `no`, `on`, `off`, `y` and `n` are booleans and `0755` is the octal number 493, \
                   so quote such strings (`\"yes\"`, `\"1024\"`)"
                .into(),
        }
    }
}

/// A plain Prometheus rule file given as input (a document with top-level `groups:`).
#[derive(Debug)]
pub struct RuleFile<'a> {
    pub source: SourceId,
    pub node: &'a Node,
}

#[derive(Debug, Default)]
pub struct Model<'a> {
    pub objects: Vec<Object<'a>>,
    pub rule_files: Vec<RuleFile<'a>>,
    pub workloads: Vec<Workload<'a>>,
    pub problems: Vec<ModelProblem>,
    /// Services by namespace and the first label of their selector: the Services that may select
    /// a workload are found from its pod labels without a pass over every object.
    pub services: HashMap<String, HashMap<(&'a str, &'a str), Vec<usize>>>,
    /// Objects by kind, all of them and by namespace (`""` for cluster-scoped kinds), in input
    /// order: cross-object lookups go through it, not a pass over all objects.
    by_kind: ByKind,
}

type ByKind = HashMap<String, OfKind>;

/// The objects of one kind, in input order: all of them, and by namespace.
#[derive(Debug, Default)]
struct OfKind {
    all: Vec<usize>,
    by_namespace: HashMap<String, Vec<usize>>,
}

impl OfKind {
    fn push(&mut self, i: usize, namespace: &str) {
        self.all.push(i);
        match self.by_namespace.get_mut(namespace) {
            Some(objects) => objects.push(i),
            None => {
                self.by_namespace.insert(namespace.to_owned(), vec![i]);
            }
        }
    }

    /// `later`'s objects come after `self`'s in the input.
    fn append(&mut self, later: OfKind) {
        self.all.extend(later.all);
        for (ns, objects) in later.by_namespace {
            self.by_namespace.entry(ns).or_default().extend(objects);
        }
    }
}

impl<'a> Model<'a> {
    /// The objects of a kind (of any API group) in a namespace, in input order.
    pub fn of_kind<'m>(&'m self, kind: &str, namespace: &str) -> impl Iterator<Item = &'m Object<'a>> + 'm {
        let found = self.by_kind.get(kind).and_then(|k| k.by_namespace.get(namespace));
        found.into_iter().flatten().map(|&i| &self.objects[i])
    }

    /// The objects of a group and kind in every namespace, with their indices, in input order.
    pub fn every<'m>(&'m self, group: &'m str, kind: &str) -> impl Iterator<Item = (usize, &'m Object<'a>)> + 'm {
        let found = self.by_kind.get(kind).map(|k| k.all.as_slice()).unwrap_or_default();
        found.iter().map(|&i| (i, &self.objects[i])).filter(move |(_, o)| o.id.group() == group)
    }

    /// The first object of the core API group with this kind, namespace and name.
    pub fn core_object(&self, kind: &str, namespace: &str, name: &str) -> Option<&Object<'a>> {
        self.of_kind(kind, namespace).find(|o| o.id.name == name && o.id.group().is_empty())
    }
}

/// Kinds that have no namespace: their identity keeps `namespace: null`.
const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "Node",
    "PersistentVolume",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "StorageClass",
    "PriorityClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "APIService",
    "IngressClass",
    "RuntimeClass",
    "CSIDriver",
    "CSINode",
    "VolumeAttachment",
    "VolumeSnapshotClass",
    "PodSecurityPolicy",
    "ClusterIssuer",
];

pub fn build<'a>(inputs: &'a Inputs, default_namespace: &str) -> Model<'a> {
    build_from(inputs, default_namespace, &|_| true)
}

/// The model of the documents whose source passes `take` (one side of a diff).
pub fn build_from<'a>(inputs: &'a Inputs, default_namespace: &str, take: &dyn Fn(SourceId) -> bool) -> Model<'a> {
    use rayon::prelude::*;
    let documents: Vec<&Document> = inputs.documents.iter().filter(|d| take(d.source)).collect();
    // Each document alone, on all cores; the parts are joined in input order.
    let parts: Vec<Model<'a>> = documents
        .par_iter()
        .fold(Model::default, |mut part, doc| {
            add_document(&mut part, doc, &doc.root, default_namespace, true);
            part
        })
        .collect();
    let mut model = Model::default();
    model.objects.reserve_exact(parts.iter().map(|p| p.objects.len()).sum());
    for part in parts {
        model.objects.extend(part.objects);
        model.rule_files.extend(part.rule_files);
        model.problems.extend(part.problems);
    }
    model.objects.par_sort_by_key(|a| (a.source, a.node.start()));
    duplicates(&mut model, inputs);
    model.by_kind = model
        .objects
        .par_iter()
        .enumerate()
        .fold(ByKind::default, |mut by_kind, (i, o)| {
            // Keys are copied once per kind and namespace, not once per object.
            match by_kind.get_mut(&o.id.kind) {
                Some(of_kind) => of_kind.push(i, o.namespace()),
                None => {
                    let mut of_kind = OfKind::default();
                    of_kind.push(i, o.namespace());
                    by_kind.insert(o.id.kind.clone(), of_kind);
                }
            }
            by_kind
        })
        .reduce(ByKind::default, |mut earlier, later| {
            for (kind, of_kind) in later {
                earlier.entry(kind).or_default().append(of_kind);
            }
            earlier
        });
    let mut services: HashMap<String, HashMap<_, Vec<usize>>> = HashMap::default();
    for (i, o) in model.every("", "Service") {
        if let Some((k, v)) = string_map(o.node.path(&["spec", "selector"])).into_iter().next() {
            let by_label = services.entry(o.namespace().to_owned()).or_default();
            by_label.entry((k, v)).or_default().push(i);
        }
    }
    model.services = services;
    // Per object and independent: on all cores, joined in object order.
    let per_object: Vec<(Vec<ModelProblem>, Option<Workload<'a>>)> = {
        use rayon::prelude::*;
        model
            .objects
            .par_iter()
            .enumerate()
            .map(|(i, o)| {
                let mut problems = Vec::new();
                schema::check_fields(o, &mut problems);
                let w = workload::extract(o, i, &mut problems);
                (problems, w)
            })
            .collect()
    };
    for (problems, w) in per_object {
        model.problems.extend(problems);
        model.workloads.extend(w);
    }
    // The typed model and the schema walk can both find the same wrong type: report it once.
    let mut seen = foldhash::HashSet::default();
    model.problems.retain(|p| p.rule != "schema/invalid-type" || seen.insert((p.source, p.span.start)));
    model
}

fn add_document<'a>(model: &mut Model<'a>, doc: &'a Document, node: &'a Node, default_ns: &str, top: bool) {
    let not_manifest =
        |rule: &str| rule == "input/not-an-object" || (node.get("apiVersion").is_none() && node.get("kind").is_none());
    let problem = |rule: &'static str, span: Span, message: String| ModelProblem {
        not_manifest: not_manifest(rule),
        rule,
        source: doc.source,
        template: doc.template.clone(),
        object: None,
        container: None,
        span,
        message,
        help: if not_manifest(rule) {
            "this is no Kubernetes object (a Helm values file, a config file?): check the rendered manifests \
             (`helm template . | meterguard check -`), or pass --ignore-non-manifests to skip such documents"
                .into()
        } else {
            String::new()
        },
    };
    if node.as_map().is_none() {
        let what = if top { "document" } else { "List item" };
        model.problems.push(problem(
            "input/not-an-object",
            node.span(),
            format!("this {what} is not a mapping, so it is not a Kubernetes object; it was skipped"),
        ));
        return;
    }
    let kind = node.get("kind").and_then(identity_str);
    if let Some(k) = kind
        && (k == "List" || (k.ends_with("List") && node.get("items").is_some_and(|i| i.as_seq().is_some())))
    {
        for item in node.get("items").and_then(Node::as_seq).unwrap_or_default() {
            add_document(model, doc, item, default_ns, false);
        }
        return;
    }
    if top && kind.is_none() && node.get("apiVersion").is_none() && node.get("groups").is_some() {
        model.rule_files.push(RuleFile { source: doc.source, node });
        return;
    }
    let api_version = node.get("apiVersion").and_then(identity_str);
    let name = node.path(&["metadata", "name"]).and_then(identity_str);
    let (Some(api_version), Some(kind), Some(name)) = (api_version, kind, name) else {
        let mut missing = Vec::new();
        for (field, val) in [("apiVersion", api_version), ("kind", kind), ("metadata.name", name)] {
            if val.is_none() {
                missing.push(field);
            }
        }
        // At the value that is there but not a string, else at the start of the object.
        let present = [node.get("apiVersion"), node.get("kind"), node.path(&["metadata", "name"])];
        let at = present
            .iter()
            .zip([api_version, kind, name])
            .find_map(|(n, ok)| if ok.is_none() { *n } else { None })
            .map(|n| n.span())
            .unwrap_or(node.span());
        model.problems.push(problem(
            "input/missing-identity",
            at,
            format!("object without a string {}: Kubernetes cannot identify it; it was skipped", missing.join(", ")),
        ));
        return;
    };
    let namespace = if CLUSTER_SCOPED.contains(&kind) {
        None
    } else {
        Some(node.str_at(&["metadata", "namespace"]).unwrap_or(default_ns).to_owned())
    };
    let id = ObjectId { api_version: api_version.to_owned(), kind: kind.to_owned(), namespace, name: name.to_owned() };
    model.objects.push(Object { id: Arc::new(id), source: doc.source, template: doc.template.as_ref(), node });
}

/// Objects are the same object when group, kind, namespace and name agree (the version may differ).
pub fn identity_key(id: &ObjectId) -> (&str, &str, &str, &str) {
    (id.group(), id.kind.as_str(), id.namespace.as_deref().unwrap_or_default(), id.name.as_str())
}

/// Objects are found in pairs by a hash of their identity, on all cores, and then compared.
fn duplicates(model: &mut Model<'_>, inputs: &Inputs) {
    use rayon::prelude::*;
    use std::hash::BuildHasher;
    let hasher = foldhash::fast::FixedState::default();
    let objects = &model.objects;
    let mut hashed: Vec<(u64, usize)> =
        objects.par_iter().enumerate().map(|(i, o)| (hasher.hash_one(identity_key(&o.id)), i)).collect();
    hashed.par_sort_unstable();
    // (an object, the first object of its identity), in input order.
    let mut again: Vec<(usize, usize)> = Vec::new();
    for same_hash in hashed.chunk_by(|a, b| a.0 == b.0).filter(|run| run.len() > 1) {
        for (k, &(_, i)) in same_hash.iter().enumerate() {
            let key = identity_key(&objects[i].id);
            // The run is in input order, so the first equal one is the first of its identity.
            if let Some(&(_, first)) = same_hash[..k].iter().find(|(_, j)| identity_key(&objects[*j].id) == key) {
                again.push((i, first));
            }
        }
    }
    again.sort_unstable();
    for (i, first) in again {
        let (o, f) = (&model.objects[i], &model.objects[first]);
        model.problems.push(ModelProblem {
            not_manifest: false,
            rule: "schema/duplicate-object",
            source: o.source,
            template: o.template.cloned(),
            object: Some(o.id.clone()),
            container: None,
            span: o.node.path(&["metadata", "name"]).map(|n| n.span()).unwrap_or(o.node.span()),
            message: match f.source == o.source {
                true => format!("{} is defined twice (first at line {})", o.id.display(), f.node.start().line),
                false => format!(
                    "{} is defined twice (first in {} at line {})",
                    o.id.display(),
                    inputs.sources[f.source].name,
                    f.node.start().line
                ),
            },
            help: "the second definition replaces the first when applied (Helm refuses the release); keep one".into(),
        });
    }
}

/// An identity field must be a non-empty string (a quoted or plain scalar that is not null or a number).
fn identity_str(n: &Node) -> Option<&str> {
    use crate::input::node::Resolved;
    let s = n.as_scalar()?;
    match s.resolve() {
        Resolved::Str(t) if !t.is_empty() => Some(t),
        _ => None,
    }
}

/// k8s.io/kubernetes pkg/apis/core/types.go `MaxSecretSize` (also the ConfigMap limit, validation.go
/// `ValidateConfigMap`).
pub const MAX_DATA_BYTES: usize = 1024 * 1024;

/// The bytes of data a ConfigMap or Secret holds as the API server counts them against
/// `MAX_DATA_BYTES` (base64 fields decoded), and where its first data field stands; None for other
/// kinds and for objects with no data field.
pub fn data_bytes(group: &str, kind: &str, node: &Node) -> Option<(usize, Span)> {
    let fields: &[(&str, bool)] = match (group, kind) {
        ("", "ConfigMap") => &[("data", false), ("binaryData", true)],
        ("", "Secret") => &[("data", true), ("stringData", false)],
        _ => return None,
    };
    let mut total = 0;
    let mut first = None;
    for &(field, base64) in fields {
        let Some(entry) = node.entry(field) else { continue };
        let Some(entries) = entry.value.as_map() else { continue };
        first.get_or_insert(entry.key.span());
        for e in entries {
            let len = e.value.as_scalar().map_or(0, |s| s.text.len());
            total += if base64 { len / 4 * 3 } else { len };
        }
    }
    first.map(|span| (total, span))
}
