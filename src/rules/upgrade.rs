//! Upgrade rules: API versions the target cluster no longer serves, and disruption budgets that
//! stop its node drains.

use super::{Context, Finding, Rule, rule};
use crate::input::Node;
use crate::knowledge::{DEFAULT_KUBE_VERSION, api_removals, kube_minor};
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

pub static RULES: &[&Rule] = &[&API_REMOVED, &API_DEPRECATED, &DRAIN_BLOCKED];

pub fn check(ctx: &Context<'_, '_>, out: &mut Vec<Finding>) {
    api_versions(ctx, out);
    drain_blocked(ctx, out);
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
fn blocking_field(budget: &Node, pods: i64) -> Option<&Node> {
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
