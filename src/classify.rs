//! Step 3: which workloads meter usage and cost, and with which profile.
//!
//! Components (Kubecost, OpenCost, agents) meter by themselves. Feeders (Prometheus,
//! kube-state-metrics, node-exporter) meter only when a component depends on them: it names
//! their Service as its Prometheus endpoint, they run in its namespace, or a metering product
//! ships them (its registry, its chart), which holds when the feeder is checked alone.

use serde::Serialize;

use crate::config::Config;
use crate::knowledge::{Catalogue, Component, ComponentKind, catalogue};
use crate::model::{ContainerInfo, LabelSet, Model, Operated, Workload};

pub const ANNOTATION: &str = "meterguard.io/metering";

#[derive(Debug, Clone, Serialize)]
pub struct Classification {
    pub metering: bool,
    pub profile: Option<String>,
    pub reason: String,
    /// Catalogue component or config selector that matched.
    #[serde(skip)]
    pub component: Option<String>,
    /// The container the profile's requirements apply to (the one whose image matched).
    #[serde(skip)]
    pub primary: Option<String>,
}

struct Direct<'c> {
    component: &'c Component,
    container: Option<String>,
    why: String,
}

fn args_of<'c>(c: &'c ContainerInfo<'_>) -> impl Iterator<Item = &'c str> {
    c.spec.command.iter().flatten().chain(c.spec.args.iter().flatten()).map(String::as_str)
}

fn direct_match<'c>(cat: &'c Catalogue, model: &Model<'_>, w: &Workload<'_>) -> Option<Direct<'c>> {
    let obj = &model.objects[w.object];
    if let Some(op) = w.operated {
        let (id, why) = match op {
            Operated::Prometheus => ("prometheus", "prometheus-operator Prometheus"),
            Operated::VmSingle => ("victoria-metrics", "VictoriaMetrics operator VMSingle"),
        };
        let comp = cat.components.iter().find(|c| c.id == id)?;
        return Some(Direct { component: comp, container: None, why: why.into() });
    }
    // The first container decides: a pod's main container comes first by convention.
    for c in w.running() {
        let Some(image) = c.spec.image.as_deref() else { continue };
        let candidate = globset::Candidate::new(image);
        for comp in &cat.components {
            if comp.image_matches(&candidate)
                && (comp.args_any.is_empty() || args_of(c).any(|a| comp.args_any.iter().any(|x| x == a)))
            {
                return Some(Direct {
                    component: comp,
                    container: Some(c.name.clone()),
                    why: format!("container {} runs image {image}", c.name),
                });
            }
        }
    }
    let meta_labels = obj.labels();
    for comp in cat.components.iter().filter(|c| c.args_any.is_empty()) {
        for labels in [&w.pod_labels as &dyn LabelSet, &meta_labels] {
            for (k, values) in &comp.labels {
                if let Some(v) = labels.label(k)
                    && values.iter().any(|x| x == v)
                {
                    return Some(Direct { component: comp, container: None, why: format!("label {k}={v}") });
                }
            }
            if let Some(k) = comp.label_keys.iter().find(|k| labels.label(k).is_some()) {
                return Some(Direct { component: comp, container: None, why: format!("label key {k}") });
            }
            for key in ["helm.sh/chart", "chart"] {
                if let Some(chart) = labels.label(key)
                    && comp.charts.iter().any(|p| chart.starts_with(p.as_str()))
                {
                    return Some(Direct { component: comp, container: None, why: format!("label {key}={chart}") });
                }
            }
        }
    }
    None
}

/// The role of a product's part that does not meter (its UI, automation, setup), from the
/// catalogue, by a running container's image or name; none for a pod that also runs a metering
/// component (Kubecost 2.x's cost-analyzer pod holds the cost model and the UI).
fn not_metering_role(cat: &Catalogue, w: &Workload<'_>) -> Option<String> {
    let mut role = None;
    for c in w.running() {
        let image = c.spec.image.as_deref().unwrap_or_default();
        let candidate = globset::Candidate::new(image);
        match cat.not_metering.iter().find(|r| r.image_matches(&candidate) || r.containers.contains(&c.name)) {
            Some(r) if role.is_none() => {
                let how = if r.image_matches(&candidate) { format!(" runs image {image}") } else { String::new() };
                role = Some(format!("{}: container {}{how} (catalogue {}); not metering", r.role, c.name, r.id));
            }
            Some(_) => {}
            None if cat
                .components
                .iter()
                .any(|p| p.kind == ComponentKind::Component && p.image_matches(&candidate)) =>
            {
                return None;
            }
            None => {}
        }
    }
    role
}

fn annotation<'a>(model: &Model<'a>, w: &Workload<'a>) -> Option<&'a str> {
    let obj = &model.objects[w.object];
    obj.annotations().get(ANNOTATION).copied().or_else(|| w.pod_annotations.get(ANNOTATION))
}

pub fn classify(model: &Model<'_>, config: &Config) -> Vec<Classification> {
    use rayon::prelude::*;
    let cat = catalogue();
    // Per workload on all cores, in workload order.
    let direct: Vec<Option<Direct>> = model.workloads.par_iter().map(|w| direct_match(cat, model, w)).collect();
    let mut out: Vec<Classification> = model
        .workloads
        .par_iter()
        .zip(&direct)
        .map(|(w, d)| first_verdict(model, config, cat, w, d.as_ref()))
        .collect();
    // Feeders: the Prometheus a metering component reads, and feeders in a metering namespace.
    let referenced = crate::model::references::prometheus_readers(model, &out);
    for (i, w) in model.workloads.iter().enumerate() {
        if out[i].metering || out[i].reason.starts_with("annotation") || out[i].reason.starts_with("excluded") {
            continue;
        }
        let Some(d) = &direct[i] else { continue };
        if d.component.kind != ComponentKind::Feeder {
            continue;
        }
        if let Some(why) = referenced.get(&i) {
            out[i] = verdict(true, d, format!("{}, {why}", d.why));
            continue;
        }
        let ns = model.objects[w.object].namespace();
        let neighbour = model.workloads.iter().enumerate().find(|(j, o)| {
            out[*j].metering
                && direct[*j].as_ref().is_some_and(|d| d.component.kind == ComponentKind::Component)
                && model.objects[o.object].namespace() == ns
        });
        if let Some((_, o)) = neighbour {
            let why = format!("{}, in namespace {ns} beside metering {}", d.why, model.objects[o.object].id.display());
            out[i] = verdict(true, d, why);
        } else if let Some(product) = shipped_by(cat, model, w) {
            out[i] = verdict(true, d, format!("{}, {product}", d.why));
        }
    }
    out
}

/// The metering product that ships this feeder, when the feeder says so itself: its image comes
/// from the product's own registry path (Kubecost's `public.ecr.aws/kubecost/prometheus`), or its
/// Helm template is in the product's chart (`cost-analyzer/charts/prometheus/...`). Such a
/// feeder meters even when it is checked alone: one file of a repository, or a pre-commit run.
fn shipped_by(cat: &Catalogue, model: &Model<'_>, w: &Workload<'_>) -> Option<String> {
    let products = || cat.components.iter().filter(|c| c.kind == ComponentKind::Component);
    for c in w.running() {
        let Some(image) = c.spec.image.as_deref() else { continue };
        let candidate = globset::Candidate::new(image);
        if let Some(p) = products().find(|p| p.image_matches(&candidate)) {
            return Some(format!("shipped by {} (its image comes from that product's registry)", p.id));
        }
    }
    let template = model.objects[w.object].template?;
    let chart = template.split('/').next()?;
    let p = products().find(|p| p.charts.iter().any(|prefix| prefix.trim_end_matches('-') == chart))?;
    Some(format!("shipped by {} (its template {template} is in the {chart} chart)", p.id))
}

fn verdict(metering: bool, d: &Direct<'_>, reason: String) -> Classification {
    Classification {
        metering,
        profile: Some(d.component.profile.clone()),
        reason,
        component: Some(d.component.id.clone()),
        primary: d.container.clone(),
    }
}

fn first_verdict(
    model: &Model<'_>,
    config: &Config,
    cat: &Catalogue,
    w: &Workload<'_>,
    d: Option<&Direct<'_>>,
) -> Classification {
    let obj = &model.objects[w.object];
    let profile = d.map(|d| d.component.profile.clone());
    // Without a catalogue match, the profile's requirements apply to the first container.
    let primary = d.and_then(|d| d.container.clone()).or_else(|| w.running().next().map(|c| c.name.clone()));
    let component = d.map(|d| d.component.id.clone());
    let mk = |metering: bool, profile: Option<String>, reason: String| Classification {
        metering,
        profile,
        reason,
        component: component.clone(),
        primary: primary.clone(),
    };
    match annotation(model, w) {
        Some("true") => {
            return mk(true, profile.or(Some("generic".into())), format!("annotation {ANNOTATION}: \"true\""));
        }
        Some("false") => return mk(false, profile, format!("annotation {ANNOTATION}: \"false\"")),
        _ => {}
    }
    if let Some(sel) = config.metering.exclude.iter().find(|s| s.matches(obj, w)) {
        return mk(false, profile, format!("excluded by config selector {}", sel.describe()));
    }
    if let Some((name, sel)) = config
        .profiles
        .iter()
        .find_map(|(n, p)| Some(&p.selector).filter(|s| !s.is_empty() && s.matches(obj, w)).map(|s| (n, s)))
    {
        return mk(true, Some(name.clone()), format!("config profile {name} matches {}", sel.describe()));
    }
    if let Some(sel) = config.metering.include.iter().find(|s| s.matches(obj, w)) {
        let p = sel.profile.clone().or(profile).unwrap_or_else(|| "generic".into());
        return mk(true, Some(p), format!("config selector {}", sel.describe()));
    }
    if let Some(why) = not_metering_role(cat, w) {
        return mk(false, profile, why);
    }
    // A Helm hook runs at install or upgrade (certificates, migrations, checks): its image may be
    // the vendor's, but it collects nothing.
    if obj.id.is_batch()
        && let Some(hook) = obj.annotations().get("helm.sh/hook")
    {
        return mk(false, profile, format!("a Helm hook ({hook}): it runs at install or upgrade and meters nothing"));
    }
    if let Some(d) = d {
        if d.component.kind == ComponentKind::Component {
            return mk(true, profile, format!("{} (catalogue component {})", d.why, d.component.id));
        }
        return mk(
            false,
            profile,
            format!("{} (catalogue {}), but no metering component reads it or runs beside it", d.why, d.component.id),
        );
    }
    let ns = obj.namespace();
    if cat.metering_namespaces.names.iter().any(|n| n == ns) {
        return mk(true, Some("generic".into()), format!("runs in namespace {ns}, kept for metering"));
    }
    mk(false, None, "matches no metering component".into())
}
