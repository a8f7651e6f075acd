//! Upgrade rules: API versions the target cluster no longer serves.

use super::{Context, Finding, Rule, rule};
use crate::knowledge::{DEFAULT_KUBE_VERSION, api_removals, kube_minor};

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

pub static RULES: &[&Rule] = &[&API_REMOVED, &API_DEPRECATED];

pub fn check(ctx: &Context<'_, '_>, out: &mut Vec<Finding>) {
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
