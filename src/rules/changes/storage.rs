//! Change rules on storage: a metering Prometheus's volume and retention, and the claims that
//! hold a metering workload's data.

use super::{METERING_WORKLOAD_REMOVED, STORAGE_CHANGED};
use crate::input::{Node, Span};
use crate::model::prometheus::duration_seconds;
use crate::model::quantity::Quantity;
use crate::model::{Workload, prometheus};
use crate::rules::storage::prom_bytes;
use crate::rules::{Context, Finding, Severity};

/// Persistent or not, volume size and retention of a Prometheus workload.
struct Store {
    persistent: bool,
    size: Option<Figure>,
    retention_time: Option<Figure>,
    retention_size: Option<Figure>,
}

/// A size or a duration: its value, as written (`20GB`, `15d`: messages quote what the diff
/// shows), and where.
struct Figure {
    value: f64,
    text: String,
    at: Span,
}

impl Figure {
    fn of(n: Option<&Node>, value: impl Fn(&str) -> Option<f64>) -> Option<Figure> {
        let n = n?;
        let text = n.as_scalar()?.text;
        Some(Figure { value: value(text)?, text: text.to_owned(), at: n.span() })
    }

    fn of_flag(f: Option<&prometheus::Flag<'_>>, value: impl Fn(&str) -> Option<f64>) -> Option<Figure> {
        let f = f?;
        let text = f.value.clone()?;
        Some(Figure { value: value(&text)?, text, at: f.node.span() })
    }
}

fn storage_bytes(q: &str) -> Option<f64> {
    Quantity::parse(q).ok().map(|q| q.as_f64())
}

fn store(ctx: &Context<'_, '_>, w: &Workload<'_>, class: &crate::classify::Classification) -> Option<Store> {
    if w.operator_prometheus() {
        let s = w.pod;
        let claim = s.path(&["storage", "volumeClaimTemplate", "spec", "resources", "requests", "storage"]);
        return Some(Store {
            persistent: s.path(&["storage", "volumeClaimTemplate"]).is_some(),
            size: Figure::of(claim, storage_bytes),
            retention_time: Figure::of(s.get("retention"), duration_seconds),
            retention_size: Figure::of(s.get("retentionSize"), prom_bytes),
        });
    }
    let c = class.primary.as_deref().and_then(|p| w.container(p))?;
    let flags = prometheus::flags(c);
    let data = prometheus::data_path(&flags);
    let vol = prometheus::mount_for(c, &data).and_then(|m| m.str_at(&["name"]));
    let claim_template =
        vol.and_then(|v| w.claim_templates.iter().find(|(_, p)| p.metadata.name.as_deref() == Some(v)));
    let volume = vol.and_then(|v| w.volume(v));
    let storage_of = |n: &Node| Figure::of(n.path(&["spec", "resources", "requests", "storage"]), storage_bytes);
    let (persistent, size) = if let Some((n, _)) = claim_template {
        (true, storage_of(n))
    } else if let Some((vnode, v)) = volume {
        if let Some(claim) = &v.persistent_volume_claim {
            let ns = ctx.model.objects[w.object].namespace();
            let pvc = ctx.model.core_object("PersistentVolumeClaim", ns, &claim.claim_name);
            (true, pvc.and_then(|p| storage_of(p.node)))
        } else {
            (false, Figure::of(vnode.path(&["emptyDir", "sizeLimit"]), storage_bytes))
        }
    } else {
        (false, None)
    };
    let rt = prometheus::flag(&flags, "storage.tsdb.retention.time")
        .or_else(|| prometheus::flag(&flags, "storage.tsdb.retention"));
    let rs = prometheus::flag(&flags, "storage.tsdb.retention.size");
    Some(Store {
        persistent,
        size,
        retention_time: Figure::of_flag(rt, duration_seconds),
        retention_size: Figure::of_flag(rs, prom_bytes),
    })
}

pub(super) fn storage(old: &Context<'_, '_>, new: &Context<'_, '_>, (oi, ni): (usize, usize), out: &mut Vec<Finding>) {
    let (ow, nw) = (&old.model.workloads[oi], &new.model.workloads[ni]);
    let (Some(o), Some(n)) = (store(old, ow, &old.classes[oi]), store(new, nw, &new.classes[ni])) else { return };
    let at = crate::coverage::workload_span(new.model, nw);
    let mut push = |message: String, span: Span| {
        out.push(new.finding(
            &STORAGE_CHANGED,
            nw,
            None,
            span,
            message,
            "keep the TSDB on a volume that outlives the pod, sized for the retention".into(),
        ));
    };
    if o.persistent && !n.persistent {
        push("the TSDB moves from a persistent volume to an emptyDir (or no volume): history is lost at every reschedule".into(), at);
    }
    if let (Some(a), Some(b)) = (&o.size, &n.size)
        && b.value < a.value
        && o.persistent == n.persistent
    {
        push(format!("the TSDB volume shrinks from {} to {}", a.text, b.text), b.at);
    }
    if let (Some(a), Some(b)) = (&o.retention_time, &n.retention_time)
        && b.value < a.value
    {
        push(format!("retention time goes down from {} to {}", a.text, b.text), b.at);
    }
    if let (Some(a), Some(b)) = (&o.retention_size, &n.retention_size)
        && b.value < a.value
    {
        push(format!("retention size goes down from {} to {}", a.text, b.text), b.at);
    }
}

/// The workload of another kind, same namespace and name, that takes a removed one's place (a
/// chart moving its Prometheus from a Deployment to a StatefulSet).
pub(super) fn replacement<'m, 'a>(new: &Context<'m, 'a>, id: &crate::model::ObjectId) -> Option<&'m Workload<'a>> {
    new.model.workloads.iter().find(|w| {
        let n = &new.model.objects[w.object].id;
        n.name == id.name && n.namespace == id.namespace && n.kind != id.kind
    })
}

/// A claim a workload's pods mount: by name, or made by a StatefulSet's template for each
/// ordinal (`<template>-<statefulset>-<ordinal>`), which scaling does not change.
#[derive(PartialEq)]
enum Claim {
    Named(String),
    Template { prefix: String, pods: i64 },
}

impl Claim {
    /// Whether this claim is the one named, or makes it.
    fn holds(&self, name: &str) -> bool {
        match self {
            Claim::Named(n) => n == name,
            Claim::Template { prefix, .. } => name
                .strip_prefix(prefix.as_str())
                .is_some_and(|o| !o.is_empty() && o.bytes().all(|b| b.is_ascii_digit())),
        }
    }

    /// Whether `other` is the same claim, scaled or not.
    fn same(&self, other: &Claim) -> bool {
        match (self, other) {
            (Claim::Template { prefix: a, .. }, Claim::Template { prefix: b, .. }) => a == b,
            (Claim::Named(n), c) | (c, Claim::Named(n)) => c.holds(n),
        }
    }

    fn named(&self) -> Option<&str> {
        match self {
            Claim::Named(n) => Some(n),
            Claim::Template { .. } => None,
        }
    }
}

impl std::fmt::Display for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Claim::Named(n) => f.write_str(n),
            Claim::Template { prefix, pods: 1 } => write!(f, "{prefix}0"),
            Claim::Template { prefix, pods } => write!(f, "{prefix}0 to {prefix}{}", pods - 1),
        }
    }
}

fn claims(ctx: &Context<'_, '_>, w: &Workload<'_>) -> Vec<Claim> {
    let obj = &ctx.model.objects[w.object];
    let named = w
        .volumes
        .iter()
        .filter_map(|(_, v)| Some(Claim::Named(v.persistent_volume_claim.as_ref()?.claim_name.clone())));
    let pods = crate::model::workload::replicas(obj).unwrap_or(1).max(1);
    let made = w.claim_templates.iter().filter_map(|(_, t)| {
        Some(Claim::Template { prefix: format!("{}-{}-", t.metadata.name.as_deref()?, obj.id.name), pods })
    });
    named.chain(made).collect()
}

fn listed<'c>(claims: impl IntoIterator<Item = &'c Claim>) -> String {
    claims.into_iter().map(Claim::to_string).collect::<Vec<_>>().join(", ")
}

/// A metering workload replaced by one of another kind: whether its data claims come along, and
/// whether helm deletes the ones left behind.
pub(super) fn replaced(
    old: &Context<'_, '_>,
    new: &Context<'_, '_>,
    ow: &Workload<'_>,
    nw: &Workload<'_>,
    span: Span,
) -> Finding {
    let (oid, nid) = (&old.model.objects[ow.object].id, &new.model.objects[nw.object].id);
    let (before, kept) = (claims(old, ow), claims(new, nw));
    let left: Vec<&Claim> = before.iter().filter(|c| !kept.iter().any(|k| k.same(c))).collect();
    let message = format!("metering {} is replaced by {} {}", oid.display(), nid.kind, nid.name);
    if left.is_empty() {
        let help = "the same claims are mounted, so its data carries over".into();
        return old.finding(&METERING_WORKLOAD_REMOVED, ow, None, span, message, help);
    }
    let deleted = dropped_claims(old, new, oid.namespace.as_deref().unwrap_or_default(), &left);
    let fresh = if kept.is_empty() { "no claim".to_owned() } else { format!("claim {}", listed(&kept)) };
    let mut message = format!(
        "{message}, which mounts {fresh} instead of {}: it starts with none of the data recorded so far",
        listed(left.iter().copied())
    );
    if !deleted.is_empty() {
        message.push_str(&format!(
            ", and the upgrade deletes claim {} with it (no helm.sh/resource-policy: keep)",
            deleted.join(", ")
        ));
    }
    let help = format!(
        "mount claim {} in the new {} by name (a persistentVolumeClaim volume of its pod template), or copy the \
         data to its new claim before the upgrade",
        left[0], nid.kind
    );
    old.finding(&METERING_WORKLOAD_REMOVED, ow, None, span, message, help).with_severity(Severity::Error)
}

/// Of these claims, those the old render holds and the new one drops: helm deletes them with the
/// upgrade, unless they carry helm.sh/resource-policy: keep.
fn dropped_claims<'c>(old: &Context<'_, '_>, new: &Context<'_, '_>, ns: &str, claims: &[&'c Claim]) -> Vec<&'c str> {
    let dropped = |c: &&str| {
        let was = old.model.core_object("PersistentVolumeClaim", ns, c);
        let keep = was.is_some_and(|p| p.annotations().get("helm.sh/resource-policy") == Some(&"keep"));
        was.is_some() && !keep && new.model.core_object("PersistentVolumeClaim", ns, c).is_none()
    };
    claims.iter().filter_map(|c| c.named()).filter(dropped).collect()
}

/// A metering workload in both renders whose data claims change: it mounts other claims (and
/// starts empty), or a claim it still mounts leaves the render and is deleted by the upgrade.
/// `tsdb_judged`: `storage` judges this workload's TSDB, and reports its move to an emptyDir.
pub(super) fn claims_changed(
    old: &Context<'_, '_>,
    new: &Context<'_, '_>,
    (oi, ni): (usize, usize),
    tsdb_judged: bool,
    out: &mut Vec<Finding>,
) {
    let (ow, nw) = (&old.model.workloads[oi], &new.model.workloads[ni]);
    let id = &new.model.objects[nw.object].id;
    let ns = id.namespace.as_deref().unwrap_or_default();
    let (before, after) = (claims(old, ow), claims(new, nw));
    let left: Vec<&Claim> = before.iter().filter(|c| !after.iter().any(|a| a.same(c))).collect();
    let deleted = dropped_claims(old, new, ns, &before.iter().collect::<Vec<_>>());
    let at = crate::coverage::workload_span(new.model, nw);
    let claim_at = |c: &str| {
        let mounted =
            nw.volumes.iter().find(|(_, v)| v.persistent_volume_claim.as_ref().is_some_and(|p| p.claim_name == c));
        mounted.and_then(|(n, _)| n.path(&["persistentVolumeClaim", "claimName"])).map_or(at, Node::span)
    };
    let help = "keep the claim in the render (or give it helm.sh/resource-policy: keep) and mounted by name, or copy \
                the data over before the upgrade";
    let mut push = |message: String, span: Span| {
        out.push(new.finding(&STORAGE_CHANGED, nw, None, span, message, help.into()).with_severity(Severity::Error));
    };
    // A Prometheus whose TSDB moves to an emptyDir is `storage`'s to report.
    if !left.is_empty() && (!after.is_empty() || !tsdb_judged) {
        let gone: Vec<&str> = deleted.iter().copied().filter(|c| left.iter().any(|l| l.holds(c))).collect();
        let now = match after.is_empty() {
            true => format!("no longer mounts claim {}", listed(left.iter().copied())),
            false => format!("mounts claim {} instead of {}", listed(&after), listed(left.iter().copied())),
        };
        let mut message = format!("{} {now}: it starts with none of the data recorded so far", id.display());
        if !gone.is_empty() {
            message.push_str(&format!(", and the upgrade deletes claim {}", gone.join(", ")));
        }
        push(message, at);
    }
    for c in deleted.iter().filter(|c| after.iter().any(|a| a.holds(c))) {
        push(
            format!(
                "claim {c}, which {} mounts, leaves the render: the upgrade deletes it (the pvc-protection finalizer \
                 holds it while a pod uses it), and the next restart finds no claim and none of the data",
                id.display()
            ),
            claim_at(c),
        );
    }
}
