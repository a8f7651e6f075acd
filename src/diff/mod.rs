//! Pre-upgrade diff: objects of the old render matched with the new one by API group, kind,
//! namespace and name; structural field changes; change findings; the annotated text diff.

pub mod compare;
pub mod emit;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;

use crate::check::{self, Analysis, Options, Report};
use crate::input::{Inputs, Node, SourceId};
use crate::model::references::{autoscaler_of, budgets_selecting, services_selecting};
use crate::model::{Model, ObjectId, identity_key};
use crate::rules::{Finding, changes};
use compare::FieldChange;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Removed,
    Changed,
}

#[derive(Debug, Clone, Serialize)]
pub struct ObjectChange {
    pub object: Arc<ObjectId>,
    pub change: Change,
    pub fields: Vec<FieldChange>,
    /// Index in the old / new model.
    #[serde(skip)]
    pub old: Option<usize>,
    #[serde(skip)]
    pub new: Option<usize>,
    /// A metering workload, or an object one depends on.
    #[serde(skip)]
    pub relevant: bool,
}

impl ObjectChange {
    pub fn noise(&self) -> Vec<&FieldChange> {
        self.fields.iter().filter(|f| f.noise).collect()
    }
}

pub struct DiffReport<'a> {
    pub check: Report<'a>,
    pub changes: Vec<ObjectChange>,
    /// The old and new models, for the text rendering.
    pub old: Analysis<'a>,
    pub new: Analysis<'a>,
}

type Key<'m> = (&'m str, &'m str, &'m str, &'m str);

/// Objects that matter for metering: metering workloads and what they depend on.
fn relevant<'m>(model: &'m Model<'_>, classes: &[crate::classify::Classification]) -> BTreeSet<Key<'m>> {
    let mut out = BTreeSet::new();
    for o in &model.objects {
        let k = &o.id.kind;
        // Alerting objects, and the config that stands for the VMRules a sync job creates.
        if matches!(o.id.group(), "monitoring.coreos.com" | "operator.victoriametrics.com")
            || crate::coverage::rules::is_vm_sync_config(&o.id)
        {
            out.insert(identity_key(&o.id));
        }
        if k == "Secret" && o.id.name.starts_with("alertmanager-") {
            out.insert(identity_key(&o.id));
        }
        // The Secrets a Prometheus takes scrape jobs and Alertmanagers from (shown masked).
        if o.is("monitoring.coreos.com", "Prometheus") {
            for field in ["additionalScrapeConfigs", "additionalAlertManagerConfigs"] {
                let name = o.node.path(&["spec", field, "name"]).and_then(Node::as_str);
                if let Some(secret) = name.and_then(|n| model.core_object("Secret", o.namespace(), n)) {
                    out.insert(identity_key(&secret.id));
                }
            }
        }
    }
    for (i, w) in model.workloads.iter().enumerate() {
        if !classes[i].metering {
            continue;
        }
        let obj = &model.objects[w.object];
        let ns = obj.namespace();
        out.insert(identity_key(&obj.id));
        for s in services_selecting(model, w) {
            out.insert(identity_key(&s.id));
        }
        let mut named = |kind: &str, name: &str| {
            if let Some(o) = model.core_object(kind, ns, name) {
                out.insert(identity_key(&o.id));
            }
        };
        for (_, v) in &w.volumes {
            if let Some(c) = &v.config_map {
                named("ConfigMap", &c.name);
            }
            if let Some(s) = v.secret.as_ref().and_then(|s| s.secret_name.as_deref()) {
                named("Secret", s);
            }
            if let Some(p) = &v.persistent_volume_claim {
                named("PersistentVolumeClaim", &p.claim_name);
            }
        }
        for c in &w.containers {
            for e in c.spec.env.iter().flatten() {
                if let Some(r) = e.value_from.as_ref().and_then(|f| f.config_map_key_ref.as_ref()) {
                    named("ConfigMap", &r.name);
                }
            }
            for ef in c.spec.env_from.iter().flatten() {
                if let Some(r) = &ef.config_map_ref {
                    named("ConfigMap", &r.name);
                }
            }
        }
        for pdb in budgets_selecting(model, w) {
            out.insert(identity_key(&pdb.id));
        }
        if let Some(hpa) = autoscaler_of(model, obj) {
            out.insert(identity_key(&hpa.id));
        }
        // Kubecost's in-app alerts, which cost-model runs (coverage/inapp.rs); webhooks are masked.
        if classes[i].profile.as_deref() == Some("cost-model") {
            for cm in model.of_kind("ConfigMap", ns).filter(|c| c.node.path(&["data", "alerts.json"]).is_some()) {
                out.insert(identity_key(&cm.id));
            }
        }
    }
    out
}

fn index<'m>(model: &'m Model<'_>) -> BTreeMap<Key<'m>, usize> {
    model.objects.iter().enumerate().map(|(i, o)| (identity_key(&o.id), i)).collect()
}

fn is_secret(id: &ObjectId) -> bool {
    id.is("", "Secret")
}

pub fn object_changes(old: &Analysis<'_>, new: &Analysis<'_>) -> Vec<ObjectChange> {
    let (oi, ni) = (index(&old.model), index(&new.model));
    let rel: BTreeSet<Key<'_>> =
        relevant(&old.model, &old.classes).into_iter().chain(relevant(&new.model, &new.classes)).collect();
    let mut out = Vec::new();
    for (k, &n) in &ni {
        let nobj = &new.model.objects[n];
        match oi.get(k) {
            None => out.push(ObjectChange {
                object: nobj.id.clone(),
                change: Change::Added,
                fields: Vec::new(),
                old: None,
                new: Some(n),
                relevant: rel.contains(k),
            }),
            Some(&o) => {
                let oobj = &old.model.objects[o];
                let fields = compare::compare(oobj.node, nobj.node, is_secret(&nobj.id));
                if !fields.is_empty() {
                    out.push(ObjectChange {
                        object: nobj.id.clone(),
                        change: Change::Changed,
                        fields,
                        old: Some(o),
                        new: Some(n),
                        relevant: rel.contains(k),
                    });
                }
            }
        }
    }
    for (k, &o) in &oi {
        if !ni.contains_key(k) {
            let oobj = &old.model.objects[o];
            out.push(ObjectChange {
                object: oobj.id.clone(),
                change: Change::Removed,
                fields: Vec::new(),
                old: Some(o),
                new: None,
                relevant: rel.contains(k),
            });
        }
    }
    out.sort_by(|a, b| {
        (&a.object.kind, &a.object.namespace, &a.object.name).cmp(&(
            &b.object.kind,
            &b.object.namespace,
            &b.object.name,
        ))
    });
    out
}

/// Runs the check on the new side and compares it with the old one. Sources below `split` are old.
pub fn run<'a>(inputs: &'a Inputs, split: SourceId, opts: &Options) -> DiffReport<'a> {
    let is_old = move |s: SourceId| s < split;
    let is_new = move |s: SourceId| s >= split;
    let old = check::analyze(inputs, opts, &is_old);
    let (new, mut findings) = check::examine(inputs, opts, &is_new, true, Default::default());
    // Input problems of the old side still make the run's input invalid.
    findings.extend(inputs.problems.iter().filter(|p| p.source.is_some_and(is_old)).map(|p| Finding {
        rule: p.rule,
        severity: crate::rules::Severity::Error,
        message: p.message.clone(),
        help: "in the old render".into(),
        object: None,
        container: None,
        source: p.source,
        file: p.file.clone(),
        span: crate::input::Span::point(p.pos),
        template: None,
        suppressed: None,
    }));
    changes::check(&old.context(inputs, opts), &new.context(inputs, opts), &old.coverage, &new.coverage, &mut findings);
    let mut changes = object_changes(&old, &new);
    let before = findings.len();
    crate::rules::changes::check_immutable(&old.model, &new.model, &changes, &mut findings);
    // A change the API server refuses fails the whole upgrade: it is shown whatever it changes.
    let refused: Vec<&Arc<ObjectId>> = findings[before..].iter().filter_map(|f| f.object.as_ref()).collect();
    for c in changes.iter_mut().filter(|c| refused.iter().any(|r| Arc::ptr_eq(r, &c.object))) {
        c.relevant = true;
    }
    let check = check::finish(inputs, &new, findings, opts);
    DiffReport { check, changes, old, new }
}

/// The node of an object change on either side.
pub fn nodes<'n>(d: &'n DiffReport<'_>, c: &ObjectChange) -> (Option<&'n Node>, Option<&'n Node>) {
    (c.old.map(|i| d.old.model.objects[i].node), c.new.map(|i| d.new.model.objects[i].node))
}
