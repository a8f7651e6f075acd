//! Alert rules from the input: PrometheusRule and VMRule objects, rule files held in ConfigMaps,
//! and plain rule files.

use foldhash::HashMap;
use std::borrow::Cow;
use std::sync::Arc;

use compact_str::CompactString;

use crate::input::node::{Pos, Style};
use crate::input::{Document, Inputs, Node, SourceId, Span, yaml};
use crate::model::{Object, ObjectId, RuleFile};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Index of an object that holds `spec.groups`: a prometheus-operator `PrometheusRule`, or a
    /// VictoriaMetrics `VMRule`.
    Object(usize),
    /// A ConfigMap object and the data key that holds the rule file.
    ConfigMap { object: usize, key: String },
    /// A plain rule file given as input.
    File(usize),
}

/// Names and durations are `CompactString`s: a render holds tens of thousands of rules, and
/// these are short enough to be stored inline instead of allocated one by one.
#[derive(Debug)]
pub struct AlertRule {
    pub alert: CompactString,
    /// The parsed expression; its text is not kept (`extract` parses each distinct one once, and
    /// `read` leaves an empty error here until then).
    pub parsed: Result<std::sync::Arc<super::promql::Query>, String>,
    pub for_: Option<CompactString>,
    /// Sorted by name, one value each (a map of two labels costs a whole B-tree node); names
    /// interned, as thousands of rules share a few.
    pub labels: Vec<(ustr::Ustr, CompactString)>,
    pub origin: Origin,
    /// Where the `expr` stands.
    pub source: SourceId,
    pub span: Span,
    /// The holder's template, identity and `namespace/name`, shared by all its rules (a render
    /// holds tens of thousands of rules in a few hundred objects).
    pub template: Option<Arc<str>>,
    pub object: Option<Arc<ObjectId>>,
    pub holder: Arc<str>,
}

/// Maps positions inside a rule file embedded in a ConfigMap value back to the manifest.
#[derive(Clone, Copy)]
pub(crate) enum Embedding {
    /// A block scalar: the file's lines are the manifest's, indented by `col`; its first line is
    /// the manifest's line `line`.
    Block { line: u32, col: u32 },
    /// A quoted scalar: a position inside it cannot be told from its text (escaped line ends,
    /// folded lines), so rules point at the scalar.
    Scalar(Pos),
}

impl Embedding {
    /// The parser places a block scalar at its first character of content, after the blank lines
    /// its text starts with.
    pub(crate) fn of(value: &Node) -> Embedding {
        let start = value.start();
        match value.as_scalar() {
            Some(s) if s.style == Style::Block => {
                let blank = u32::try_from(s.text.bytes().take_while(|b| *b == b'\n').count()).unwrap_or(u32::MAX);
                Embedding::Block { line: start.line.saturating_sub(blank), col: start.col.saturating_sub(1) }
            }
            _ => Embedding::Scalar(start),
        }
    }

    pub(crate) fn map(&self, p: Pos) -> Pos {
        match *self {
            Embedding::Block { line, col } => Pos { line: line + p.line - 1, col: p.col + col },
            Embedding::Scalar(at) => at,
        }
    }
}

/// Where a rule file stands: the object that holds it, and how its positions map to the manifest.
struct Place {
    origin: Origin,
    source: SourceId,
    template: Option<Arc<str>>,
    object: Option<Arc<ObjectId>>,
    holder: Arc<str>,
    embed: Option<Embedding>,
}

impl Place {
    /// Where the rules of a document stand before the model names its object (`placed` names it).
    fn unplaced(source: SourceId) -> Place {
        Place { origin: Origin::File(usize::MAX), source, template: None, object: None, holder: "".into(), embed: None }
    }

    fn of(origin: Origin, o: &Object<'_>, embed: Option<Embedding>) -> Place {
        Place {
            origin,
            source: o.source,
            template: o.template.cloned(),
            object: Some(o.id.clone()),
            holder: format!("{}/{}", o.namespace(), o.id.name).into(),
            embed,
        }
    }
}

/// A recording rule as read: where it is, the series it records, and its expression's text.
pub type PendingRecord<'t> = (Origin, CompactString, Cow<'t, str>);

/// The alert and recording rules of the input, as read. The texts of expressions are borrowed from
/// the tree, but for rule files read out of a ConfigMap value, whose tree is gone once read.
#[derive(Default)]
pub struct Read<'t> {
    pub alerts: Vec<AlertRule>,
    /// The text of each alert's expression, until `extract` parses them.
    pub exprs: Vec<Cow<'t, str>>,
    pub records: Vec<PendingRecord<'t>>,
}

impl<'t> Read<'t> {
    fn append(&mut self, other: Read<'t>) {
        self.alerts.extend(other.alerts);
        self.exprs.extend(other.exprs);
        self.records.extend(other.records);
    }

    fn into_owned(self) -> Read<'static> {
        let owned = |e: Cow<'_, str>| Cow::Owned(e.into_owned());
        Read {
            alerts: self.alerts,
            exprs: self.exprs.into_iter().map(owned).collect(),
            records: self.records.into_iter().map(|(o, s, e)| (o, s, owned(e))).collect(),
        }
    }
}

/// A recording rule of the input: where it is (only an evaluator that loads it records the
/// series), the series it records, and its parsed expression.
pub struct Record {
    pub origin: Origin,
    pub series: CompactString,
    pub query: Arc<super::promql::Query>,
}

/// The series one evaluator records, by name: what each of its recording rules' expressions reads
/// (a series recorded by several rules has each of them).
pub type Recorded<'r> = HashMap<&'r str, Vec<&'r super::promql::Query>>;

/// The rules of `root`'s groups that `keep` (given the group's and the rule's name) keeps.
fn push_groups<'t>(out: &mut Read<'t>, root: &'t Node, place: Place, keep: &dyn Fn(&str, &str) -> bool) {
    let Place { origin, source, template, object, holder, embed } = place;
    for g in root.get("groups").and_then(Node::as_seq).unwrap_or_default() {
        let group = g.str_at(&["name"]).unwrap_or_default();
        for r in g.get("rules").and_then(Node::as_seq).unwrap_or_default() {
            let Some(expr_node) = r.get("expr") else { continue };
            let name = r.str_at(&["alert"]).or_else(|| r.str_at(&["record"])).unwrap_or_default();
            if !keep(group, name) {
                continue;
            }
            let expr = Cow::Borrowed(expr_node.as_scalar().map_or("", |s| s.text));
            let Some(alert) = r.str_at(&["alert"]) else {
                if let Some(record) = r.str_at(&["record"]) {
                    out.records.push((origin.clone(), record.into(), expr));
                }
                continue;
            };
            let span = match embed {
                Some(e) => Span::point(e.map(expr_node.start())),
                None => expr_node.span(),
            };
            let labels =
                crate::model::string_map(r.get("labels")).into_iter().map(|(k, v)| (k.into(), v.into())).collect();
            let rule = AlertRule {
                alert: alert.into(),
                // Parsed in `extract`, all rules at once on all cores.
                parsed: Err(String::new()),
                for_: r.str_at(&["for"]).map(CompactString::from),
                labels,
                origin: origin.clone(),
                source,
                span,
                template: template.clone(),
                object: object.clone(),
                holder: holder.clone(),
            };
            out.alerts.push(rule);
            out.exprs.push(expr);
        }
    }
}

/// The rules of a plain check's PrometheusRule and VMRule documents, read before the model is built
/// (`take`), by where each document starts in its source.
#[derive(Default)]
pub struct Taken(HashMap<(SourceId, Pos), Read<'static>>);

/// Reads the rules of every PrometheusRule and VMRule document into `Taken` and drops its `spec`:
/// nothing else reads it, and these trees are a third of a large render's (7 MB of 23 at 10k
/// objects), held until the run ends. Only when the inputs are pruned (a plain check): a diff
/// compares every tree.
pub fn take(inputs: &mut Inputs) -> Taken {
    use rayon::prelude::*;
    if inputs.prune.is_none() {
        return Taken::default();
    }
    Taken(inputs.documents.par_iter_mut().filter_map(take_document).collect())
}

fn take_document(doc: &mut Document) -> Option<((SourceId, Pos), Read<'static>)> {
    if !crate::model::prune::holds_rule_groups(&doc.root) {
        return None;
    }
    let mut read = Read::default();
    push_groups(&mut read, doc.root.get("spec")?, Place::unplaced(doc.source), &|_, _| true);
    let read = read.into_owned();
    crate::model::prune::keep_fields(&mut doc.root, crate::model::prune::KEPT_FIELDS);
    Some(((doc.source, doc.root.start()), read))
}

/// Taken rules placed in the object `i` that the model made of their document.
fn placed(mut read: Read<'static>, i: usize, o: &Object<'_>) -> Read<'static> {
    let place = Place::of(Origin::Object(i), o, None);
    for rule in &mut read.alerts {
        rule.origin = place.origin.clone();
        rule.template.clone_from(&place.template);
        rule.object.clone_from(&place.object);
        rule.holder = place.holder.clone();
    }
    for record in &mut read.records {
        record.0 = place.origin.clone();
    }
    read
}

/// The rules one object holds: a PrometheusRule's or VMRule's, or those of rule files in a ConfigMap.
fn rules_of<'t>(i: usize, o: &Object<'t>) -> Read<'t> {
    let mut out = Read::default();
    if is_vm_sync_config(&o.id) {
        synced(&mut out, i, o);
    } else if holds_rules(&o.id) {
        if let Some(spec) = o.node.get("spec") {
            push_groups(&mut out, spec, Place::of(Origin::Object(i), o, None), &|_, _| true);
        }
    } else if o.is("", "ConfigMap") {
        for e in o.node.get("data").and_then(Node::as_map).unwrap_or_default() {
            let Some(key) = e.key.as_str() else { continue };
            let Some(text) = e.value.as_scalar() else { continue };
            if !text.text.contains("groups") {
                continue;
            }
            let parsed = yaml::parse_stream(text.text);
            let Some(doc) = parsed.documents.first() else { continue };
            if doc.root.get("groups").is_none() {
                continue;
            }
            let embed = Embedding::of(&e.value);
            let origin = Origin::ConfigMap { object: i, key: key.to_owned() };
            let mut file = Read::default();
            push_groups(&mut file, &doc.root, Place::of(origin, o, Some(embed)), &|_, _| true);
            out.append(file.into_owned());
        }
    }
    out
}

/// The VMRules victoria-metrics-k8s-stack's sync job creates at deploy time, from upstream rule
/// files its config names (`knowledge/synced-rules.yaml`): the groups and rules the config does not
/// disable, of the sources it enables. Their positions are the config's, which is all the render holds.
fn synced(out: &mut Read<'_>, i: usize, o: &Object<'_>) {
    let Some(entry) = o.node.path(&["data"]).and_then(|d| d.entry("config.yaml")) else { return };
    let Some(text) = entry.value.as_scalar() else { return };
    let parsed = yaml::parse_stream(text.text);
    let Some(config) = parsed.documents.first().and_then(|d| d.root.get("rules")) else { return };
    let on = |n: Option<&Node>| n.and_then(|n| n.get("enabled")).and_then(Node::as_bool) != Some(false);
    let sources = config.get("sources").and_then(Node::as_seq).unwrap_or_default();
    let urls: Vec<&str> = sources.iter().filter(|s| on(Some(s))).filter_map(|s| s.str_at(&["url"])).collect();
    let groups = config.get("groups");
    let keep = |group: &str, rule: &str| {
        let g = groups.and_then(|gs| gs.get(group));
        on(g) && on(config.get("rules").and_then(|r| r.get(rule))) && on(g.and_then(|g| g.path(&["rules", rule])))
    };
    let known = crate::knowledge::synced_rules().get("sources").and_then(Node::as_seq).unwrap_or_default();
    for source in known {
        let suffix = source.str_at(&["url_suffix"]).unwrap_or("\0");
        if urls.iter().any(|u| u.ends_with(suffix)) {
            let place = Place::of(Origin::Object(i), o, Some(Embedding::Scalar(entry.value.start())));
            push_groups(out, source, place, &keep);
        }
    }
}

/// victoria-metrics-k8s-stack's sync-job config (`<fullname>-sync-job-config`), which stands in
/// the render for the VMRules its job creates.
pub fn is_vm_sync_config(id: &ObjectId) -> bool {
    id.is("", "ConfigMap") && id.name.ends_with("-sync-job-config")
}

/// A VictoriaMetrics VMRule: the groups of a PrometheusRule, with expressions in MetricsQL, a
/// superset of PromQL; or the sync-job config that stands for VMRules.
pub fn is_vm_rule(id: &ObjectId) -> bool {
    id.is("operator.victoriametrics.com", "VMRule") || is_vm_sync_config(id)
}

/// An object that holds alert rule groups in its spec: a PrometheusRule or a VMRule.
pub fn holds_rules(id: &ObjectId) -> bool {
    id.is("monitoring.coreos.com", "PrometheusRule") || is_vm_rule(id)
}

/// Every alert and recording rule of the objects and rule files with its expression's text,
/// unparsed, in the order `extract` returns them.
pub fn read<'t>(objects: &[Object<'t>], rule_files: &[RuleFile<'t>], taken: Taken) -> Read<'t> {
    use rayon::prelude::*;
    let mut taken = taken.0;
    let pre: Vec<Option<Read<'static>>> = objects.iter().map(|o| taken.remove(&(o.source, o.node.start()))).collect();
    // Per object on all cores, joined in object order.
    let per_object: Vec<Read<'t>> = objects
        .par_iter()
        .zip(pre)
        .enumerate()
        .map(|(i, (o, pre))| match pre {
            Some(taken) => placed(taken, i, o),
            None => rules_of(i, o),
        })
        .collect();
    // One allocation of the final size: collecting a flattened iterator grows by doubling, and a
    // render holds hundreds of thousands of rules.
    let alerts = per_object.iter().map(|r| r.alerts.len()).sum();
    let mut out = Read {
        alerts: Vec::with_capacity(alerts),
        exprs: Vec::with_capacity(alerts),
        records: Vec::with_capacity(per_object.iter().map(|r| r.records.len()).sum()),
    };
    per_object.into_iter().for_each(|r| out.append(r));
    for (i, f) in rule_files.iter().enumerate() {
        let place = Place {
            origin: Origin::File(i),
            source: f.source,
            template: None,
            object: None,
            holder: Arc::from("rule file"),
            embed: None,
        };
        push_groups(&mut out, f.node, place, &|_, _| true);
    }
    out
}

/// Every alert rule and every recording rule of the objects and rule files, expressions parsed;
/// recording rules whose expression does not parse record nothing and are left out.
pub fn extract(objects: &[Object<'_>], rule_files: &[RuleFile<'_>], taken: Taken) -> (Vec<AlertRule>, Vec<Record>) {
    let Read { mut alerts, exprs: alert_exprs, records } = read(objects, rule_files, taken);
    // Each distinct expression once: a monorepo renders the same chart for several environments,
    // and the same rules with it (and those that differ in label values only share a parse).
    let interner = super::promql::Interner::default();
    let texts = alert_exprs.iter().chain(records.iter().map(|(_, _, expr)| expr)).map(AsRef::as_ref);
    let super::promql::Distinct { texts, slots } = super::promql::Distinct::of(texts);
    let parsed: Vec<_> =
        super::promql::parse_all(&texts, &interner).into_iter().map(|q| q.map(std::sync::Arc::new)).collect();
    drop(texts);
    let (slots, record_slots) = slots.split_at(alert_exprs.len());
    let recorded = records
        .into_iter()
        .zip(record_slots)
        .filter_map(|((origin, series, _), slot)| {
            let query = parsed[*slot].as_ref().ok()?.clone();
            Some(Record { origin, series, query })
        })
        .collect();
    for (rule, slot) in alerts.iter_mut().zip(slots) {
        rule.parsed = parsed[*slot].clone();
    }
    (alerts, recorded)
}
