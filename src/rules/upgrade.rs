//! Upgrade rules: API versions the target cluster no longer serves, disruption budgets that
//! stop its node drains, and rollouts that cannot finish.

use super::{Context, Finding, Rule, Severity, rule};
use crate::classify::Classification;
use crate::input::node::Key;
use crate::input::{Node, Span};
use crate::knowledge::{DEFAULT_KUBE_VERSION, api_removals, kube_minor};
use crate::model::Workload;
use crate::model::references::{budgets_selecting, fewest_replicas};
use crate::model::workload::scaled;

rule!(
    API_REMOVED,
    "upgrade/api-removed",
    Error,
    "an apiVersion the target Kubernetes no longer serves",
    "The API server of the target version rejects objects of a removed apiVersion, so the release fails to apply \
     (or, after the cluster upgrade, the object can no longer be read or changed). Move to the replacement \
     version named in the message. The target is --kube-version, the config's kube_version, or 1.37."
);
rule!(
    API_DEPRECATED,
    "upgrade/api-deprecated",
    Warning,
    "an apiVersion deprecated in the target Kubernetes",
    "The target version still serves this apiVersion but has deprecated it; the release named in the message \
     removes it. Move to the replacement before that upgrade."
);

rule!(
    DRAIN_BLOCKED,
    "upgrade/drain-blocked",
    Warning,
    "a PodDisruptionBudget lets no pod of a metering workload be evicted",
    "A cluster upgrade drains every node, and a drain evicts pods through the Eviction API, which honours \
     PodDisruptionBudgets. A budget that allows no disruption at the workload's replica count (minAvailable at \
     or above it, rounded up for a percentage; maxUnavailable 0), or a pod selected by two budgets (the Eviction \
     API refuses those), stops the drain at that pod: kubectl drain retries forever, and an EKS managed node \
     group update fails after 15 minutes unless forced, when the pod is deleted without its budget anyway. A \
     single-replica metering workload cannot be kept up through a drain by a budget; it is rescheduled (and a \
     Prometheus replays its WAL). Allow one disruption (maxUnavailable: 1), or run enough replicas that one can \
     go. Replicas come from spec.replicas (times shards for a Prometheus), or the lowest count a \
     HorizontalPodAutoscaler keeps. DaemonSet pods are not evicted by a drain and are not judged."
);

rule!(
    ROLLOUT_BLOCKED,
    "upgrade/rollout-blocked",
    Error,
    "a rolling update needs a ReadWriteOnce volume its old pod still holds",
    "A Deployment's rolling update starts a new pod before it stops an old one when maxUnavailable comes to 0 at \
     its replica count, and the default of 25% rounds down to 0 below four replicas. When the pods mount a \
     PersistentVolumeClaim that one node at a time may attach (ReadWriteOnce), a new pod scheduled on another node \
     waits in ContainerCreating on a Multi-Attach error while the old pod holds the volume, and the old pod is \
     stopped only once the new one is ready: the rollout never finishes, and helm upgrade --wait or --atomic, or an \
     Argo CD sync, fails or rolls back after the progress deadline. ReadWriteOncePod admits one pod even on the \
     same node. A Prometheus (server or agent) or a VictoriaMetrics locks its data directory, so on the same node \
     the new pod crash-loops instead: for those, and for ReadWriteOncePod, the rollout cannot finish wherever the \
     pod lands and the finding is an error; otherwise it finishes only when the scheduler happens to pick the old \
     pod's node, and it is a warning. Use strategy type Recreate (the prometheus chart's default for its server), \
     or maxSurge: 0 with maxUnavailable: 1. A claim whose access modes allow many nodes (ReadWriteMany, \
     ReadOnlyMany), one not in the input, and a StatefulSet's per-pod claims are not judged."
);

pub static RULES: &[&Rule] = &[&API_REMOVED, &API_DEPRECATED, &DRAIN_BLOCKED, &ROLLOUT_BLOCKED];

pub fn check(ctx: &Context<'_, '_>, out: &mut Vec<Finding>) {
    api_versions(ctx, out);
    drain_blocked(ctx, out);
    rollout_blocked(ctx, out);
}

fn api_versions(ctx: &Context<'_, '_>, out: &mut Vec<Finding>) {
    let target_text = ctx.config.kube_version.as_deref().unwrap_or(DEFAULT_KUBE_VERSION);
    let Some(target) = kube_minor(target_text) else { return };
    for o in &ctx.model.objects {
        let Some(r) = api_removals().iter().find(|r| r.api == o.id.api_version && r.kinds.contains(&o.id.kind)) else {
            continue;
        };
        let (Some(dep), Some(rem)) = (kube_minor(&r.deprecated), kube_minor(&r.removed)) else { continue };
        let (rule, message) = if target >= rem {
            (
                &API_REMOVED,
                format!(
                    "{} {} was removed in Kubernetes {}; the target is {target_text}",
                    o.id.api_version, o.id.kind, r.removed
                ),
            )
        } else if target >= dep {
            (
                &API_DEPRECATED,
                format!(
                    "{} {} is deprecated since Kubernetes {} and removed in {}",
                    o.id.api_version, o.id.kind, r.deprecated, r.removed
                ),
            )
        } else {
            continue;
        };
        let span = o.node.get("apiVersion").map(|n| n.span()).unwrap_or(o.node.span());
        let help = format!("use {} (source: {})", r.replacement, r.source);
        out.push(Finding::on_object(rule, o, span, message, help));
    }
}

/// The budget's field that allows no disruption of `pods` healthy pods, as the disruption
/// controller counts: maxUnavailable (rounded up) first, else minAvailable (rounded up).
fn blocking_field(budget: &Node, pods: i64) -> Option<&Key> {
    let spec = budget.get("spec")?;
    if let Some(e) = spec.entry("maxUnavailable").filter(|e| !e.value.is_null()) {
        return (scaled(&e.value, pods, true)? <= 0).then_some(&e.key);
    }
    let e = spec.entry("minAvailable").filter(|e| !e.value.is_null())?;
    (scaled(&e.value, pods, true)? >= pods).then_some(&e.key)
}

fn drain_blocked(ctx: &Context<'_, '_>, out: &mut Vec<Finding>) {
    for (w, _, _) in ctx.metering() {
        let obj = &ctx.model.objects[w.object];
        let Some((pods, autoscaler)) = fewest_replicas(ctx.model, obj).filter(|&(n, _)| n > 0) else { continue };
        let budgets = budgets_selecting(ctx.model, w);
        let kept_by = if autoscaler.is_some() { " at its HorizontalPodAutoscaler's minReplicas" } else { "" };
        let runs = format!("{}, which runs {pods} {}{kept_by}", obj.id.display(), plural(pods));
        if let [first, .., last] = budgets.as_slice() {
            let selector = last.node.get("spec").and_then(|s| s.entry("selector"));
            let span = selector.map_or(last.node.span(), |e| e.key.span());
            let message = format!(
                "{} PodDisruptionBudgets ({} and {}) select the pods of {runs}: the Eviction API refuses to evict \
                 a pod of two budgets, so a node drain stops at them",
                budgets.len(),
                first.id.name,
                last.id.name
            );
            let help = "keep one PodDisruptionBudget per workload".into();
            out.push(Finding::on_object(&DRAIN_BLOCKED, last, span, message, help));
            continue;
        }
        let Some(budget) = budgets.first() else { continue };
        let Some(field) = blocking_field(budget.node, pods) else { continue };
        let key = field.as_str().unwrap_or_default();
        let value = budget.node.path(&["spec", key]).and_then(Node::as_str).unwrap_or_default();
        let message = format!(
            "PodDisruptionBudget {} ({key}: {value}) allows no eviction of {runs}: a node drain during the upgrade \
             stops at it",
            budget.id.name
        );
        let help = if pods == 1 {
            "a budget cannot keep one replica up through a drain: set maxUnavailable: 1, or run two replicas".into()
        } else {
            format!("allow at least one disruption: minAvailable at most {}, or maxUnavailable: 1", pods - 1)
        };
        out.push(Finding::on_object(&DRAIN_BLOCKED, budget, field.span(), message, help));
    }
}

fn plural(n: i64) -> &'static str {
    if n == 1 { "replica" } else { "replicas" }
}

/// Catalogue components that lock their data directory, so that a second pod on the same volume
/// exits: Prometheus (`lock DB directory`, server and agent) and VictoriaMetrics (`flock.lock`).
const LOCKING: &[&str] = &["prometheus", "prometheus-agent", "victoria-metrics"];

/// Why a Deployment's rolling update runs a new pod beside the old one at `replicas`, and the field
/// that says so when one is written. apps/v1 defaults the strategy to RollingUpdate with 25% and
/// 25%; `ResolveFenceposts` rounds maxSurge up and maxUnavailable down, and makes maxUnavailable 1
/// when both come to 0.
fn overlapping_rollout(spec: &Node, replicas: i64) -> Option<(String, Option<Span>)> {
    let strategy = spec.get("strategy").filter(|s| !s.is_null());
    let kind = strategy.and_then(|s| s.entry("type")).filter(|e| !e.value.is_null());
    if kind.is_some_and(|e| e.value.as_str() != Some("RollingUpdate")) {
        return None;
    }
    let rolling = strategy.and_then(|s| s.get("rollingUpdate")).filter(|r| !r.is_null());
    let field = |k: &str| rolling.and_then(|r| r.entry(k)).filter(|e| !e.value.is_null());
    let surge = match field("maxSurge") {
        Some(e) => scaled(&e.value, replicas, true)?,
        None => (replicas * 25 + 99) / 100,
    };
    let (unavailable, written) = match field("maxUnavailable") {
        Some(e) => (scaled(&e.value, replicas, false)?, Some(e)),
        None => (replicas * 25 / 100, None),
    };
    if unavailable > 0 || surge <= 0 {
        return None;
    }
    let pods = format!("{replicas} {}", plural(replicas));
    Some(match (written, kind) {
        (Some(e), _) => {
            let value = e.value.as_str().unwrap_or_default();
            let why = if value.ends_with('%') {
                format!("maxUnavailable {value} of {pods} rounds down to 0")
            } else {
                format!("maxUnavailable: {value}")
            };
            (why, Some(e.key.span()))
        }
        (None, Some(k)) => (format!("RollingUpdate keeps maxUnavailable at 25%, 0 at {pods}"), Some(k.value.span())),
        (None, None) => (format!("the default RollingUpdate strategy keeps maxUnavailable at 25%, 0 at {pods}"), None),
    })
}

/// The first claim the pods mount that one node at a time may attach, with its mode and the
/// volume's `claimName` node. A claim asking for a mode many nodes may share is not exclusive.
fn exclusive_claim<'w>(ctx: &Context<'_, '_>, w: &'w Workload<'_>) -> Option<(&'w str, &'static str, Span)> {
    let ns = ctx.model.objects[w.object].namespace();
    w.volumes.iter().find_map(|(node, vol)| {
        let claim = vol.persistent_volume_claim.as_ref()?;
        let pvc = ctx.model.core_object("PersistentVolumeClaim", ns, &claim.claim_name)?;
        let modes: Vec<&str> =
            pvc.node.path(&["spec", "accessModes"])?.as_seq()?.iter().filter_map(Node::as_str).collect();
        if modes.is_empty() || modes.iter().any(|m| !matches!(*m, "ReadWriteOnce" | "ReadWriteOncePod")) {
            return None;
        }
        let mode = if modes.contains(&"ReadWriteOncePod") { "ReadWriteOncePod" } else { "ReadWriteOnce" };
        let at = node.path(&["persistentVolumeClaim", "claimName"]).map_or(node.span(), Node::span);
        Some((claim.claim_name.as_str(), mode, at))
    })
}

fn rollout_blocked(ctx: &Context<'_, '_>, out: &mut Vec<Finding>) {
    for (w, class, _) in ctx.metering() {
        let obj = &ctx.model.objects[w.object];
        if !obj.is("apps", "Deployment") || w.operated.is_some() {
            continue;
        }
        let Some((replicas, _)) = fewest_replicas(ctx.model, obj).filter(|&(n, _)| n > 0) else { continue };
        let Some(spec) = obj.node.get("spec") else { continue };
        let Some((why, field)) = overlapping_rollout(spec, replicas) else { continue };
        let Some((claim, mode, claim_at)) = exclusive_claim(ctx, w) else { continue };
        let (severity, outcome) = outcome(class, mode);
        let message = format!(
            "{} starts a new pod before it stops the old one ({why}), and its pods mount {mode} claim {claim}: \
             {outcome}",
            obj.id.display()
        );
        let help = "set spec.strategy.type: Recreate, or rollingUpdate maxSurge: 0 and maxUnavailable: 1, so that \
                    the old pod lets go of the volume first"
            .into();
        let finding = ctx.finding(&ROLLOUT_BLOCKED, w, None, field.unwrap_or(claim_at), message, help);
        out.push(finding.with_severity(severity));
    }
}

fn outcome(class: &Classification, mode: &str) -> (Severity, &'static str) {
    if mode == "ReadWriteOncePod" {
        return (
            Severity::Error,
            "the claim admits one pod, so the new pod never starts and the rollout never finishes",
        );
    }
    if class.component.as_deref().is_some_and(|c| LOCKING.contains(&c)) {
        return (
            Severity::Error,
            "on another node the new pod cannot attach it, and on the same node it cannot take the data \
             directory's lock and crash-loops, so the rollout never finishes",
        );
    }
    (
        Severity::Warning,
        "on another node the new pod cannot attach it (Multi-Attach error), and the rollout stalls until the old \
         pod is stopped by hand",
    )
}
