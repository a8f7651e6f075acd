//! Change rules: what a new render takes away from the metering stack, compared with the old one.
//! Storage and data claims are in `storage.rs`, scrape jobs and monitors in `monitors.rs`, and the
//! changes the API server refuses in `immutable.rs`.

mod immutable;
mod monitors;
mod storage;

pub use immutable::{IMMUTABLE_FIELD_CHANGED, check as check_immutable};

use std::collections::{BTreeMap, BTreeSet};

use super::{Context, Finding, Rule, Severity, rule};
use crate::coverage::Analysis;
use crate::input::{Node, Span};
use crate::knowledge::image_majors;
use crate::model::quantity::Quantity;
use crate::model::references::fewest_replicas;
use crate::model::{ContainerInfo, Workload, identity_key, prometheus};

rule!(
    MEMORY_REDUCED,
    "diff/memory-reduced",
    Warning,
    "a metering container gets less memory",
    "The new render lowers a memory request or limit of a metering container. The sizing rules still judge the \
     new value; this says that it went down, which is how the incident's limit came to be too small."
);
rule!(
    CPU_REDUCED,
    "diff/cpu-reduced",
    Warning,
    "a metering container gets less CPU",
    "The new render lowers a CPU request or limit of a metering container: slower starts (a longer WAL replay) \
     and probe timeouts under throttling."
);
rule!(
    PROBE_REMOVED,
    "diff/probe-removed",
    Warning,
    "a probe of a metering container is removed",
    "Without its readiness probe a container receives traffic before it can serve; without its liveness probe \
     a hung process is never restarted."
);
rule!(
    PROBE_LOOSENED,
    "diff/probe-loosened",
    Warning,
    "a startup probe removed, or a liveness budget shortened",
    "A shorter liveness budget, or the loss of the startup probe, lets the kubelet kill a metering container that \
     is still starting (for Prometheus: still replaying its write-ahead log)."
);
rule!(
    ALERT_REMOVED,
    "diff/alert-removed",
    Error,
    "an alert rule is removed",
    "Error when a metering workload loses all coverage for a failure mode with it; warning when the alert goes \
     but other rules still cover the workload."
);
rule!(
    COVERAGE_LOST,
    "diff/coverage-lost",
    Error,
    "a metering workload loses all coverage of a failure mode, though no alert rule is removed",
    "An alert's expression or matchers changed, a scrape job was renamed or drops the metric or is scraped too \
     rarely for the alert's range, the evaluator stopped selecting the rule, or Kubecost's in-app diagnostic \
     alert was turned off: the workload was covered \
     for this failure in the old render and is not in the new one. `diff/alert-removed` reports the loss when a \
     removed rule causes it."
);
rule!(
    MONITOR_REMOVED,
    "diff/monitor-removed",
    Warning,
    "a ServiceMonitor, PodMonitor, ScrapeConfig or Probe, or a metering Prometheus's scrape job, is removed",
    "Whatever the monitor scraped (or the Probe probed) is no longer scraped: alerts on its metrics (and \
     `up`, or `probe_success`) go silent. VictoriaMetrics scrape objects (VMServiceScrape, VMPodScrape, \
     VMNodeScrape, VMStaticScrape, VMProbe, VMScrapeConfig) count too, and so does a job taken out of the \
     scrape_configs of a plain Prometheus server that meters (Kubecost's bundled server without its kubecost \
     job no longer stores the costs cost-model emits, nor the kube-state-metrics series it stands in for)."
);
rule!(
    METERING_WORKLOAD_REMOVED,
    "diff/metering-workload-removed",
    Warning,
    "a metering workload is removed",
    "The new render no longer has a workload that meters usage or cost. If that is intended, the data it \
     recorded stops with it. When a workload of another kind takes its namespace and name (a chart moving its \
     Prometheus from a Deployment to a StatefulSet), the message says so, and it is an error when the new one \
     does not mount the claims that hold the old one's data: it starts empty, and a claim the new render drops \
     is deleted by the upgrade unless it has helm.sh/resource-policy: keep."
);
rule!(
    STORAGE_CHANGED,
    "diff/storage-changed",
    Warning,
    "a metering Prometheus loses storage or retention, or a metering workload its data claims",
    "A persistent volume replaced by an emptyDir, a smaller volume, or a lower retention: metering history is \
     lost at the next reschedule, or kept for less time. For any metering workload, an error: it mounts other \
     claims than before, or none (it starts empty; Kubecost with persistentVolume.enabled turned off), or a \
     claim it mounts leaves the render, so the upgrade deletes it \
     (the pvc-protection finalizer only holds it while a pod uses it) unless it has \
     helm.sh/resource-policy: keep."
);
rule!(
    REPLICAS_REDUCED,
    "diff/replicas-reduced",
    Warning,
    "a metering workload runs fewer replicas",
    "Fewer replicas leave less room for a node drain during the upgrade: with one, every drain takes the workload \
     down until it is rescheduled. The count is spec.replicas (times shards for a Prometheus), or the minReplicas \
     of a HorizontalPodAutoscaler that scales the workload, which then governs it; a lower minReplicas is \
     reported on the autoscaler."
);
rule!(
    IMAGE_MAJOR_BUMP,
    "diff/image-major-bump",
    Warning,
    "a metering container's image crosses a major version",
    "A major version changes flags and behaviours. For Prometheus 2 to 3 the message names the flags in use \
     that changed, and what behaves differently (from knowledge/image-majors.yaml, with sources)."
);

pub static RULES: &[&Rule] = &[
    &MEMORY_REDUCED,
    &CPU_REDUCED,
    &PROBE_REMOVED,
    &PROBE_LOOSENED,
    &ALERT_REMOVED,
    &COVERAGE_LOST,
    &MONITOR_REMOVED,
    &METERING_WORKLOAD_REMOVED,
    &STORAGE_CHANGED,
    &REPLICAS_REDUCED,
    &IMAGE_MAJOR_BUMP,
    &IMMUTABLE_FIELD_CHANGED,
];

type Key<'m> = (&'m str, &'m str, &'m str, &'m str);

fn by_key<'m>(ctx: &Context<'m, '_>) -> BTreeMap<Key<'m>, usize> {
    ctx.model.workloads.iter().enumerate().map(|(i, w)| (identity_key(&ctx.model.objects[w.object].id), i)).collect()
}

/// Alert rules by holder and name: a rule is the same rule across renders when both match.
type RuleKeys<'c> = BTreeSet<(&'c str, &'c str)>;

fn rule_keys(a: &Analysis) -> RuleKeys<'_> {
    a.rules.iter().map(|r| (&*r.holder, r.alert.as_str())).collect()
}

fn quantity(n: Option<&Node>) -> Option<(Quantity, Span)> {
    let n = n?;
    Some((Quantity::parse(n.as_scalar()?.text).ok()?, n.span()))
}

fn text(n: Option<&Node>) -> String {
    n.and_then(|n| n.as_scalar()).map(|s| s.text.to_string()).unwrap_or_default()
}

pub fn check(
    old: &Context<'_, '_>,
    new: &Context<'_, '_>,
    old_cov: &Analysis,
    new_cov: &Analysis,
    out: &mut Vec<Finding>,
) {
    let old_keys = by_key(old);
    let new_keys = by_key(new);
    for (key, &ni) in &new_keys {
        if !new.classes[ni].metering {
            continue;
        }
        let Some(&oi) = old_keys.get(key) else { continue };
        let (ow, nw) = (&old.model.workloads[oi], &new.model.workloads[ni]);
        for nc in nw.containers.iter() {
            let Some(oc) = ow.container(&nc.name) else { continue };
            resources(new, nw, oc, nc, out);
            probes(new, nw, oc, nc, out);
            images(new, nw, oc, nc, out);
        }
        if nw.operated.is_some() {
            resources_operator(new, nw, ow, out);
        }
        replicas(old, new, ow, nw, out);
        let tsdb_judged = new.classes[ni].profile.as_deref() == Some("prometheus-server");
        if tsdb_judged {
            storage::storage(old, new, (oi, ni), out);
        }
        storage::claims_changed(old, new, (oi, ni), tsdb_judged, out);
    }
    for (key, &oi) in &old_keys {
        if old.classes[oi].metering && !new_keys.contains_key(key) {
            let w = &old.model.workloads[oi];
            let span = crate::coverage::workload_span(old.model, w);
            let name = old.model.objects[w.object].id.display();
            let finding = match storage::replacement(new, old.model.objects[w.object].id.as_ref()) {
                Some(nw) => storage::replaced(old, new, w, nw, span),
                None => old.finding(
                    &METERING_WORKLOAD_REMOVED,
                    w,
                    None,
                    span,
                    format!("metering {name} is removed"),
                    format!("{}; the usage it metered is no longer recorded", old.classes[oi].reason),
                ),
            };
            out.push(finding);
        }
    }
    monitors::monitors(old, new, out);
    monitors::scrape_jobs_removed((old, old_cov), (new, new_cov), &new_keys, out);
    let (old_rules, new_rules) = (rule_keys(old_cov), rule_keys(new_cov));
    alerts(old, (old_cov, new_cov), &new_rules, &new_keys, out);
    coverage_lost((old, old_cov, &old_rules), (new, new_cov, &new_rules), &new_keys, out);
}

/// A mode covered in the old render and in no way in the new one, where every rule that covered it
/// is still there (a removed one is `diff/alert-removed`'s).
fn coverage_lost(
    (old, old_cov, old_rules): (&Context<'_, '_>, &Analysis, &RuleKeys<'_>),
    (new, new_cov, new_rules): (&Context<'_, '_>, &Analysis, &RuleKeys<'_>),
    new_keys: &BTreeMap<Key<'_>, usize>,
    out: &mut Vec<Finding>,
) {
    for (wi, cov) in &old_cov.per_workload {
        let w = &old.model.workloads[*wi];
        let Some(&nwi) = new_keys.get(&identity_key(&old.model.objects[w.object].id)) else { continue };
        let Some(ncov) = new_cov.per_workload.get(&nwi) else { continue };
        for mode in crate::coverage::MODES {
            let (before, after) = (cov.mode(mode), ncov.mode(mode));
            let removed = |i: &&crate::coverage::Item| {
                let key = (i.rule_object.as_str(), i.alert.as_str());
                old_rules.contains(&key) && !new_rules.contains(&key)
            };
            if before.is_empty() || !after.is_empty() || before.iter().any(|i| removed(&i)) {
                continue;
            }
            let was: Vec<String> = before.iter().map(|i| format!("{} ({})", i.alert, i.rule_object)).collect();
            let nw = &new.model.workloads[nwi];
            let name = new.model.objects[nw.object].id.display();
            let help = new_cov.near_misses.get(&nwi).and_then(|m| m.get(mode)).map_or_else(
                || format!("see alerts/{mode}-uncovered on the new render"),
                |miss| format!("nearest now: {miss}"),
            );
            let message = format!("{name} was covered for {mode} by {}; nothing covers it now", was.join(", "));
            out.push(new.finding(
                &COVERAGE_LOST,
                nw,
                None,
                crate::coverage::workload_span(new.model, nw),
                message,
                help,
            ));
        }
    }
}

fn resources(
    ctx: &Context<'_, '_>,
    w: &Workload<'_>,
    oc: &ContainerInfo<'_>,
    nc: &ContainerInfo<'_>,
    out: &mut Vec<Finding>,
) {
    for section in ["requests", "limits"] {
        for (resource, rule) in [("memory", &MEMORY_REDUCED), ("cpu", &CPU_REDUCED)] {
            let path = ["resources", section, resource];
            let (Some((o, _)), Some((n, span))) = (quantity(oc.node.path(&path)), quantity(nc.node.path(&path))) else {
                continue;
            };
            if n.nanos < o.nanos {
                out.push(ctx.finding(
                    rule,
                    w,
                    Some(nc),
                    span,
                    format!(
                        "{resource} {} of container {} goes down from {} to {}",
                        section.trim_end_matches('s'),
                        nc.name,
                        text(oc.node.path(&path)),
                        text(nc.node.path(&path))
                    ),
                    "the sizing rules judge the new value; check that the workload's peak still fits".into(),
                ));
            }
        }
    }
}

fn resources_operator(ctx: &Context<'_, '_>, nw: &Workload<'_>, ow: &Workload<'_>, out: &mut Vec<Finding>) {
    for section in ["requests", "limits"] {
        let path = ["resources", section, "memory"];
        let (Some((o, _)), Some((n, span))) = (quantity(ow.pod.path(&path)), quantity(nw.pod.path(&path))) else {
            continue;
        };
        if n.nanos < o.nanos {
            out.push(ctx.finding(
                &MEMORY_REDUCED,
                nw,
                None,
                span,
                format!(
                    "memory {} goes down from {} to {}",
                    section.trim_end_matches('s'),
                    text(ow.pod.path(&path)),
                    text(nw.pod.path(&path))
                ),
                "the sizing rules judge the new value".into(),
            ));
        }
    }
}

fn probes(
    ctx: &Context<'_, '_>,
    w: &Workload<'_>,
    oc: &ContainerInfo<'_>,
    nc: &ContainerInfo<'_>,
    out: &mut Vec<Finding>,
) {
    let name_at = nc.node.entry("name").map(|e| e.key.span()).unwrap_or(nc.node.span());
    for (key, present_old, present_new) in [
        ("livenessProbe", oc.spec.liveness_probe.is_some(), nc.spec.liveness_probe.is_some()),
        ("readinessProbe", oc.spec.readiness_probe.is_some(), nc.spec.readiness_probe.is_some()),
    ] {
        if present_old && !present_new {
            out.push(ctx.finding(
                &PROBE_REMOVED,
                w,
                Some(nc),
                name_at,
                format!("container {}: {key} is removed", nc.name),
                "keep the probe, or say why in the pull request".into(),
            ));
        }
    }
    if oc.spec.startup_probe.is_some() && nc.spec.startup_probe.is_none() {
        out.push(ctx.finding(
            &PROBE_LOOSENED,
            w,
            Some(nc),
            name_at,
            format!(
                "container {}: the startup probe is removed, so the liveness probe runs from the first second",
                nc.name
            ),
            "keep a startup probe with a budget above the worst-case start".into(),
        ));
    }
    if let (Some(o), Some(n)) = (&oc.spec.liveness_probe, &nc.spec.liveness_probe) {
        let (ob, nb) = (super::probes::budget(o), super::probes::budget(n));
        if nb < ob {
            let at = nc.node.entry("livenessProbe").map(|e| e.key.span()).unwrap_or(name_at);
            out.push(ctx.finding(
                &PROBE_LOOSENED,
                w,
                Some(nc),
                at,
                format!("container {}: the liveness budget shrinks from {ob}s to {nb}s", nc.name),
                "a slow start is killed sooner; keep the budget above the worst-case start".into(),
            ));
        }
    }
}

fn images(
    ctx: &Context<'_, '_>,
    w: &Workload<'_>,
    oc: &ContainerInfo<'_>,
    nc: &ContainerInfo<'_>,
    out: &mut Vec<Finding>,
) {
    let (Some(oi), Some(ni)) = (oc.spec.image.as_deref(), nc.spec.image.as_deref()) else { return };
    let (Some(om), Some(nm)) = (prometheus::major_version(oi), prometheus::major_version(ni)) else { return };
    if nm <= om {
        return;
    }
    let span = nc.node.get("image").map(|n| n.span()).unwrap_or(nc.node.span());
    let is_prom =
        ni.contains("prometheus") && !ni.contains("exporter") && !ni.contains("operator") && !ni.contains("reloader");
    let known = image_majors().iter().find(|m| is_prom && m.component == "prometheus" && m.from == om && m.to == nm);
    let help = match known {
        Some(m) => {
            let flags = prometheus::flags(nc);
            let mut in_use = Vec::new();
            for f in &flags {
                if let Some(r) = m.removed_flags.iter().find(|r| r.flag == f.name) {
                    in_use.push(format!("--{} ({})", f.name, r.note));
                }
                if f.name == "enable-feature" {
                    for feat in f.value.as_deref().unwrap_or_default().split(',') {
                        if let Some(r) = m.removed_feature_flags.iter().find(|r| r.flag == feat.trim()) {
                            in_use.push(format!("--enable-feature={} ({})", r.flag, r.note));
                        }
                    }
                }
            }
            let flags = if in_use.is_empty() {
                "no changed flag is in use".to_owned()
            } else {
                format!("flags in use that changed: {}", in_use.join("; "))
            };
            format!("{flags}. Behaviours that change: {}. Source: {}", m.behaviours.join("; "), m.source)
        }
        None => "read the release notes of the new major version before the upgrade".into(),
    };
    out.push(ctx.finding(
        &IMAGE_MAJOR_BUMP,
        w,
        Some(nc),
        span,
        format!("container {}: image goes from major version {om} to {nm} ({oi} -> {ni})", nc.name),
        help,
    ));
}

/// Fewer pods: a lower declared count (times shards for a Prometheus), or a lower `minReplicas`
/// of the autoscaler that scales the workload, reported where it is written.
fn replicas(
    old: &Context<'_, '_>,
    ctx: &Context<'_, '_>,
    ow: &Workload<'_>,
    nw: &Workload<'_>,
    out: &mut Vec<Finding>,
) {
    let obj = &ctx.model.objects[nw.object];
    let Some((o, _)) = fewest_replicas(old.model, &old.model.objects[ow.object]) else { return };
    let Some((n, autoscaler)) = fewest_replicas(ctx.model, obj) else { return };
    if n >= o {
        return;
    }
    let help = "keep enough replicas to survive a node drain".to_owned();
    match autoscaler {
        Some(h) => {
            let span = h.node.path(&["spec", "minReplicas"]).map_or(h.node.span(), Node::span);
            let message = format!(
                "{} may run {n} {} (its HorizontalPodAutoscaler's minReplicas), down from {o}",
                obj.id.display(),
                if n == 1 { "replica" } else { "replicas" }
            );
            out.push(Finding::on_object(&REPLICAS_REDUCED, h, span, message, help));
        }
        None => {
            let span = obj.node.path(&["spec", "replicas"]).map(|n| n.span()).unwrap_or(obj.node.span());
            out.push(ctx.finding(&REPLICAS_REDUCED, nw, None, span, format!("replicas go down from {o} to {n}"), help));
        }
    }
}

fn alerts(
    old: &Context<'_, '_>,
    (old_cov, new_cov): (&Analysis, &Analysis),
    new_rules: &RuleKeys<'_>,
    new_by_key: &BTreeMap<Key<'_>, usize>,
    out: &mut Vec<Finding>,
) {
    for r in &old_cov.rules {
        if new_rules.contains(&(&*r.holder, r.alert.as_str())) {
            continue;
        }
        let mut lost = Vec::new();
        for (wi, cov) in &old_cov.per_workload {
            let id = &old.model.objects[old.model.workloads[*wi].object].id;
            let Some(nwi) = new_by_key.get(&identity_key(id)) else { continue };
            let Some(ncov) = new_cov.per_workload.get(nwi) else { continue };
            for mode in crate::coverage::MODES {
                if cov.mode(mode).iter().any(|i| i.alert == r.alert && *i.rule_object == *r.holder)
                    && ncov.mode(mode).is_empty()
                {
                    lost.push(format!("{} ({mode})", id.name));
                }
            }
        }
        let (severity, message) = if lost.is_empty() {
            (
                Severity::Warning,
                format!(
                    "alert {} ({}) is removed; the metering workloads it covered are still covered",
                    r.alert, r.holder
                ),
            )
        } else {
            (
                Severity::Error,
                format!("alert {} ({}) is removed, and with it all coverage of {}", r.alert, r.holder, lost.join(", ")),
            )
        };
        let help = "keep the alert, or add one that covers the same failure".into();
        out.push(super::alerts::rule_finding(&ALERT_REMOVED, r, message, help).with_severity(severity));
    }
}
