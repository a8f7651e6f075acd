//! Alert coverage: for each metering workload and failure mode (down, crash loop, OOM kill),
//! which alert rules would fire, on which evaluator, and whether the alert can reach a person.

pub mod alike;
pub mod discovery;
pub mod evaluators;
pub mod generate;
pub mod inapp;
pub mod jobs;
pub mod notify;
pub mod promql;
pub mod relabel;
pub mod rules;
pub mod selectors;
pub mod victoria;

use foldhash::{HashMap, HashMapExt};
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::classify::Classification;
use crate::config::Config;
use crate::input::Span;
use crate::knowledge::signals;
use crate::model::references::services_selecting;
use crate::model::{Model, Workload, workload};
use evaluators::{Evaluator, Notify};
use jobs::JobIndex;
use promql::Selector;
use rules::{AlertRule, Record, Recorded};

pub const MODES: [&str; 3] = ["down", "crashloop", "oom"];

/// The failure modes that apply to a workload. A Job or CronJob runs to completion: it is never
/// "down" (no ready replica) and never crash-loops (its pods are not restarted forever); only an
/// OOM kill, which fails the run, applies among these three.
pub fn modes_of(model: &Model<'_>, w: &crate::model::Workload<'_>) -> &'static [&'static str] {
    modes_of_kind(&model.objects[w.object].id)
}

pub fn modes_of_kind(id: &crate::model::ObjectId) -> &'static [&'static str] {
    if id.is_batch() { &BATCH_MODES } else { &MODES }
}

const BATCH_MODES: [&str; 1] = ["oom"];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Item {
    pub alert: String,
    pub rule_object: String,
    pub evaluator: String,
    /// Whether the alert reaches a receiver with an integration.
    #[serde(skip)]
    pub reaches: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct WorkloadCoverage {
    pub down: Vec<Item>,
    pub crashloop: Vec<Item>,
    pub oom: Vec<Item>,
    /// No evaluator is in the input or declared: whether an alert fires cannot be judged, which
    /// is not the same as none firing (written only when true).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unknown: bool,
}

impl WorkloadCoverage {
    pub fn mode(&self, m: &str) -> &Vec<Item> {
        match m {
            "down" => &self.down,
            "crashloop" => &self.crashloop,
            _ => &self.oom,
        }
    }

    fn mode_mut(&mut self, m: &str) -> &mut Vec<Item> {
        match m {
            "down" => &mut self.down,
            "crashloop" => &mut self.crashloop,
            _ => &mut self.oom,
        }
    }
}

/// What identifies a workload's series.
#[derive(Debug, Clone)]
pub struct Target {
    pub kind: String,
    pub name: String,
    pub namespace: String,
    pub pods: Vec<String>,
    pub containers: Vec<String>,
    pub services: Vec<String>,
    pub available_can_fail: bool,
    /// A Prometheus of the input that only it scrapes: when it is down, nothing records its
    /// `up` as 0 (an evaluator of unknown jobs, a ThanosRuler, sees its `up` go stale instead).
    pub scrapes_itself_only: bool,
}

/// Deployment `Available` turns False only when availableReplicas < replicas - maxUnavailable
/// (maxUnavailable rounded down, as `ResolveFenceposts` does).
fn available_can_fail(w: &Workload<'_>, model: &Model<'_>) -> bool {
    let obj = &model.objects[w.object];
    let replicas = workload::replicas(obj).unwrap_or(1);
    let strategy = obj.node.path(&["spec", "strategy"]);
    if strategy.and_then(|s| s.str_at(&["type"])) == Some("Recreate") {
        return replicas > 0;
    }
    let max_unavailable = match strategy.and_then(|s| s.path(&["rollingUpdate", "maxUnavailable"])) {
        Some(v) => workload::scaled(v, replicas, false).unwrap_or(0),
        None => replicas * 25 / 100,
    };
    replicas - max_unavailable.min(replicas) > 0
}

pub fn target(model: &Model<'_>, w: &Workload<'_>) -> Target {
    let o = &model.objects[w.object];
    let (kind, name) = match w.operated {
        Some(op) => {
            let (kind, name) = op.controller(&o.id.name);
            (kind.to_owned(), name)
        }
        None => (o.id.kind.clone(), o.id.name.clone()),
    };
    let pods = match kind.as_str() {
        "Deployment" => vec![format!("{name}-7b9759bdfd-qz29f")],
        "StatefulSet" => vec![format!("{name}-0")],
        "CronJob" => vec![format!("{name}-29180160-x7k2p")],
        "Pod" => vec![name.clone()],
        _ => vec![format!("{name}-x7k2p")],
    };
    let mut containers: Vec<String> = w.running().map(|c| c.name.clone()).collect();
    if let Some(op) = w.operated {
        containers.push(op.container().into());
    }
    Target {
        available_can_fail: kind == "Deployment" && available_can_fail(w, model),
        scrapes_itself_only: false,
        services: services_selecting(model, w).iter().map(|s| s.id.name.clone()).collect(),
        namespace: o.namespace().to_owned(),
        kind,
        name,
        pods,
        containers,
    }
}

fn identity_values(t: &Target, label: &str) -> Option<Vec<String>> {
    let own = |k: &str| if t.kind == k { vec![t.name.clone()] } else { Vec::new() };
    Some(match label {
        "namespace" => vec![t.namespace.clone()],
        "pod" => t.pods.clone(),
        "container" => t.containers.clone(),
        "service" => t.services.clone(),
        "deployment" => own("Deployment"),
        "statefulset" => own("StatefulSet"),
        "daemonset" => own("DaemonSet"),
        "cronjob" => own("CronJob"),
        "job_name" => own("Job"),
        _ => return None,
    })
}

/// `identity_admits`, on the identity labels in `on` only.
fn identity_admits_on(sel: &Selector, t: &Target, on: promql::Identity) -> bool {
    identity_excluding(sel, t, on).is_none()
}

/// The first identity label in `on` whose matchers exclude this workload.
fn identity_excluding(sel: &Selector, t: &Target, on: promql::Identity) -> Option<&'static str> {
    for (bit, label) in promql::IDENTITY_LABELS.iter().enumerate() {
        if on & (1 << bit) == 0 || !sel.constrains(label) {
            continue;
        }
        // A Probe's series carry the Probe's namespace, not the workload's (`job_stores`).
        if *label == "namespace" && probed(sel) {
            continue;
        }
        let values = identity_values(t, label).unwrap_or_default();
        let ok = if values.is_empty() { sel.admits(label, "") } else { values.iter().any(|v| sel.admits(label, v)) };
        if !ok {
            return Some(label);
        }
    }
    None
}

/// Whether the selector reads a Probe's series (`probe_success`).
fn probed(sel: &Selector) -> bool {
    sel.metric.as_deref().and_then(|m| signals().get(m)).is_some_and(|s| s.source == "probe")
}

/// Whether a selector's matchers on a signal's state labels can hold during this failure: they
/// must admit the state this failure gives the signal, and a selector pinned to the state of
/// another failure finds nothing of this one. `reason="OOMKilled"` is not there in a crash loop of
/// any cause, so `increase(restarts[15m]) > 0 and on(pod) last_terminated_reason{reason=
/// "OOMKilled"}` reports OOM kills, not crash loops; `phase="Running"` is (a crash-looping pod
/// stays Running).
fn state_admits(sel: &Selector, mode: &str) -> bool {
    let Some(signal) = sel.metric.as_deref().and_then(|m| signals().get(m)) else { return true };
    let pinned_to = |values: &BTreeMap<String, String>| {
        !values.is_empty() && values.iter().all(|(k, v)| sel.constrains(k) && sel.admits(k, v))
    };
    match signal.modes.get(mode) {
        Some(values) => values.iter().all(|(k, v)| sel.admits(k, v)),
        None => !signal.modes.values().any(pinned_to),
    }
}

/// The evaluator scrapes something under a `job` this selector accepts (unknown jobs: assume so).
fn job_ok(sel: &Selector, jobs: Option<&JobIndex>, source: Option<&str>, target: Option<usize>) -> bool {
    let Some(jobs) = jobs else { return true };
    jobs.admitted(sel)
        .iter()
        .map(|&j| &jobs.jobs[j])
        .any(|j| source.is_none_or(|s| j.sources.contains(s)) && target.is_none_or(|t| j.targets.contains(&t)))
}

/// `job_ok`, for a job that also stores the selector's metric, under the `namespace` its series
/// carry when that is the job's own (a Probe's).
/// `for_s`: how long the alert must hold, for a range too short for the job's scrape interval.
fn job_stores<'s>(
    sel: &'s Selector,
    jobs: Option<&JobIndex>,
    source: &str,
    target: Option<usize>,
    for_s: f64,
) -> Covered<'s> {
    let Some(jobs) = jobs else { return Ok(()) };
    let metric = sel.metric.as_deref().unwrap_or_default();
    let (mut scraped, mut partial, mut full) = (false, false, false);
    let mut sparse: Option<f64> = None;
    for j in jobs.admitted(sel).iter().map(|&j| &jobs.jobs[j]) {
        let labelled = j.namespace.as_deref().is_none_or(|ns| sel.admits("namespace", ns));
        if j.exposes(source, metric) && target.is_none_or(|t| j.targets.contains(&t)) && labelled {
            if j.stores(source, metric) {
                match j.interval {
                    Some(every) if !sel.fires_when_scraped_every(every, for_s) => {
                        sparse = Some(sparse.map_or(every, |s| s.min(every)));
                        continue;
                    }
                    _ => return Ok(()),
                }
            }
            scraped = true;
        }
        partial |= j.sources.contains(source) && j.ksm_emits.is_some();
        full |= j.sources.contains(source) && j.ksm_emits.is_none();
    }
    if let Some(every) = sparse {
        Err(Some(Miss::Sparse(sel, every, for_s)))
    } else if scraped {
        Err(Some(Miss::Dropped(sel)))
    } else if source == jobs::TARGET || source == jobs::PROBE {
        // `up{job="etcd"}` reads `up` and scrapes other targets: no near miss.
        Err(None)
    } else if partial && !full {
        Err(Some(Miss::NotEmitted(sel)))
    } else {
        Err(Some(Miss::Unscraped(sel)))
    }
}

/// Why a selector that reads a signal of a failure does not cover a workload in it: the nearest
/// such miss (`rank`, then rule order) is told with the uncovered finding, so that a narrowed
/// namespace or a dropped metric is seen for what it is.
#[derive(Clone, Copy)]
pub enum Miss<'s> {
    /// Its matchers on the namespace exclude the workload (a rule for other workloads' pods or
    /// containers is no near miss).
    Namespace(&'s Selector),
    /// No scrape job it can read collects the signal.
    Unscraped(&'s Selector),
    /// Its kube_* series come only from workloads that emit some of them (cost-model), not this one.
    NotEmitted(&'s Selector),
    /// The jobs that collect it drop the metric.
    Dropped(&'s Selector),
    /// Its range is too short for the samples its function needs at the jobs' scrape interval
    /// (seconds), for an alert that must hold `for` (seconds).
    Sparse(&'s Selector, f64, f64),
    /// An operand it is matched with on the workload's labels excludes the workload by its
    /// matchers on this identity label.
    Operand(&'s Selector, &'s Selector, &'static str),
}

impl Miss<'_> {
    /// How near the alert came: a matcher to widen, then an operand to fix, then a metric to keep,
    /// then a whole scrape job to add.
    fn rank(&self) -> u8 {
        match self {
            Miss::Namespace(_) => 0,
            Miss::Operand(..) | Miss::Sparse(..) => 1,
            Miss::Dropped(_) => 2,
            Miss::Unscraped(_) | Miss::NotEmitted(_) => 3,
        }
    }

    pub fn describe(self) -> String {
        let metric = |s: &Selector| s.metric.unwrap_or_default();
        match self {
            Miss::Namespace(s) => {
                format!("reads {}, but its matcher {} excludes this namespace", metric(s), matchers_on(s, "namespace"))
            }
            Miss::Unscraped(s) => format!("reads {}, but no scrape job it can read collects it", metric(s)),
            Miss::NotEmitted(s) => format!(
                "reads {}, but its evaluator scrapes no kube-state-metrics, and cost-model (Kubecost, OpenCost), \
                 which emits some kube_* series, does not emit that one",
                metric(s)
            ),
            Miss::Dropped(s) => {
                format!(
                    "reads {}, but the scrape jobs that collect it drop that metric (metric relabelings)",
                    metric(s)
                )
            }
            Miss::Sparse(s, every, for_s) => {
                let range = f64::from(s.range_ms) / 1000.0;
                let needs = if s.samples == 1 { "a sample" } else { "two samples" };
                let held = s.held_of_every(every);
                let why = if held <= 0.0 {
                    format!("never holds the {needs} its function needs")
                } else {
                    format!(
                        "holds {needs} for only {} of every {}, less than the alert's `for` of {}",
                        seconds(held),
                        seconds(every),
                        seconds(for_s)
                    )
                };
                format!(
                    "reads {} over [{}], but the scrape jobs that collect it run every {}: the range {why} (a range \
                     of four scrape intervals, [{}], is safe)",
                    metric(s),
                    seconds(range),
                    seconds(every),
                    seconds(4.0 * every)
                )
            }
            Miss::Operand(s, operand, label) => format!(
                "reads {}, but it is matched with {}{{{}}}, which excludes this workload",
                metric(s),
                metric(operand),
                matchers_on(operand, label)
            ),
        }
    }
}

/// The operand matched with `hit` on the workload's labels whose identity matchers exclude the
/// workload itself (not only its state in this failure).
fn excluding_operand<'s>(hit: &'s Selector, q: &'s promql::Query, t: &Target) -> Option<Miss<'s>> {
    let excluding = std::cell::Cell::new(None);
    let admitted = q.about(&|i, on| {
        let label = identity_excluding(&q.selectors[i], t, on);
        if excluding.get().is_none() {
            excluding.set(label.map(|l| (i, l)));
        }
        label.is_none()
    });
    let (i, label) = excluding.get().filter(|_| !admitted)?;
    Some(Miss::Operand(hit, &q.selectors[i], label))
}

/// A duration as Prometheus writes it (`1m30s`).
fn seconds(s: f64) -> String {
    std::time::Duration::try_from_secs_f64(s).map_or_else(|_| format!("{s}s"), |d| promql::display_duration(&d))
}

fn matchers_on(s: &Selector, label: &str) -> String {
    s.matchers.iter().filter(|m| m.name == label).map(|m| m.to_string()).collect::<Vec<_>>().join(", ")
}

/// Covered, or why not: `Err(None)` when the selector reads no signal of this failure.
type Covered<'s> = Result<(), Option<Miss<'s>>>;

/// Can this selector return series on this evaluator at all?
fn selector_possible(sel: &Selector, jobs: Option<&JobIndex>) -> bool {
    if let Some(m) = sel.metric.as_deref()
        && let Some(only) = signals().ksm_only.iter().find(|k| k.metric == m)
        && let Some(jobs) = jobs
    {
        let ok = jobs.jobs.iter().any(|j| j.exposes(jobs::KSM, m) && j.ksm_major.is_none_or(|v| v == only.major));
        if !ok {
            return false;
        }
    }
    !sel.constrains("job") || job_ok(sel, jobs, None, None)
}

/// The namespace a selector's series must carry (`namespace="x"`), if it names one, and so the
/// workload's: not for a Probe's series, which carry the Probe's.
fn required_namespace(sel: &Selector) -> Option<String> {
    if probed(sel) {
        return None;
    }
    sel.matchers
        .iter()
        .find(|m| m.name == "namespace" && matches!(m.op, promql::Op::Equal))
        .map(|m| m.value.to_string())
}

fn covers<'s>(
    sel: &'s Selector,
    mode: &str,
    t: &Target,
    wi: usize,
    jobs: Option<&JobIndex>,
    for_s: f64,
) -> Covered<'s> {
    let Some(metric) = sel.metric.as_deref() else { return Err(None) };
    let Some(signal) = signals().get(metric) else { return Err(None) };
    let Some(values) = signal.modes.get(mode) else { return Err(None) };
    if sel.in_absent && metric != "up" {
        return Err(None);
    }
    if !signal.kinds.is_empty() && !signal.kinds.contains(&t.kind) {
        return Err(None);
    }
    if signal.when.as_deref() == Some("available-condition-can-fail") && !t.available_can_fail {
        return Err(None);
    }
    if !values.iter().all(|(k, v)| sel.admits(k, v)) {
        return Err(None);
    }
    match identity_excluding(sel, t, promql::ALL_IDENTITY) {
        Some("namespace") => return Err(Some(Miss::Namespace(sel))),
        Some(_) => return Err(None),
        None => {}
    }
    match signal.source.as_str() {
        "target" if jobs.is_none() && t.scrapes_itself_only && !sel.in_absent => Err(None),
        "target" => job_stores(sel, jobs, jobs::TARGET, Some(wi), for_s),
        "probe" => job_stores(sel, jobs, jobs::PROBE, Some(wi), for_s),
        s => job_stores(sel, jobs, source_key(s), None, for_s),
    }
}

/// A signal's `source` in knowledge/signals.yaml as jobs name it.
fn source_key(source: &str) -> &'static str {
    match source {
        "target" => jobs::TARGET,
        "probe" => jobs::PROBE,
        "cadvisor" => jobs::CADVISOR,
        _ => jobs::KSM,
    }
}

/// For a signal selector that is a range function's range, the scrape interval at which every
/// job that may give it its series scrapes too rarely for the range (the shortest, when each is
/// known): an operand the expression needs that returns nothing. Other selectors are not judged
/// (a recorded series comes at its rule group's interval).
fn too_rare(sel: &Selector, jobs: Option<&JobIndex>, for_s: f64) -> Option<f64> {
    let jobs = jobs?;
    let metric = sel.metric.as_deref()?;
    let source = source_key(&signals().get(metric)?.source);
    if sel.samples == 0 {
        return None;
    }
    let admitted = jobs.admitted(sel);
    let reading = admitted.iter().map(|&j| &jobs.jobs[j]).filter(|j| j.exposes(source, metric));
    let every = reading.map(|j| j.interval).try_fold(f64::INFINITY, |m, i| Some(m.min(i?)))?;
    (every.is_finite() && !sel.fires_when_scraped_every(every, for_s)).then_some(every)
}

fn alert_labels(r: &AlertRule, t: &Target) -> BTreeMap<String, String> {
    let mut l: BTreeMap<String, String> = r.labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    l.insert("alertname".into(), r.alert.to_string());
    l.insert("namespace".into(), t.namespace.clone());
    l
}

fn reaches(e: &Evaluator, labels: &BTreeMap<String, String>) -> bool {
    match &e.notify {
        Notify::Config(configs) => configs.iter().any(|c| notify::reaches_someone(&c.config, labels)),
        Notify::Assumed => true,
        Notify::Nowhere(_) => false,
    }
}

#[derive(Debug, Default)]
pub struct Analysis {
    pub rules: Vec<AlertRule>,
    pub evaluators: Vec<Evaluator>,
    pub per_workload: BTreeMap<usize, WorkloadCoverage>,
    /// Prometheus servers whose failure, in these modes, only they would report.
    pub self_monitored: BTreeMap<usize, BTreeMap<&'static str, Vec<Item>>>,
    /// For a workload and a failure no alert covers, the nearest alert that reads a signal of it
    /// and why it still does not cover the workload (`Miss`).
    pub near_misses: BTreeMap<usize, BTreeMap<&'static str, String>>,
    pub unselected: Vec<(usize, Vec<String>)>,
    pub unknown_loaded: bool,
    /// Each cost model and the Prometheus workload it reads, readers in input order.
    pub cost_model_reads: Vec<(usize, usize)>,
}

/// `rules` and `records` are the model's alert and recording rules (`rules::extract`).
pub fn analyze(
    model: &Model<'_>,
    classes: &[Classification],
    config: &Config,
    rules: Vec<AlertRule>,
    records: &[Record],
    assume_loaded: bool,
) -> Analysis {
    let found = evaluators::find(model, classes, config, &rules, records, assume_loaded);
    let job_indexes: Vec<Option<JobIndex>> =
        found.evaluators.iter().map(|e| e.jobs.as_deref().map(JobIndex::new)).collect();
    // Per evaluator, once: the rules that can fire there and read at least one signal, with their
    // signal selectors, and the always-firing rules (dead man's switches). Workloads only look
    // these up, through an index on the namespace the selectors require, so that the work grows
    // with the workloads times the rules that could concern them, not all the rules.
    struct Prepared<'r> {
        candidates: Vec<(usize, Vec<Selector>)>,
        anywhere: Vec<usize>,
        by_namespace: HashMap<String, Vec<usize>>,
        constants: Vec<&'r AlertRule>,
    }
    /// One loaded rule as `Prepared` files it.
    enum Judged {
        Constant(usize),
        Candidate(usize, Vec<Selector>),
    }
    let judge = |ri: usize, jobs: Option<&JobIndex>, recorded: &Recorded| {
        let Ok(expr) = &rules[ri].parsed else { return None };
        if expr.is_constant() {
            return Some(Judged::Constant(ri));
        }
        let mut sels: Vec<Selector> = Vec::new();
        let mut budget = RECORDING_BUDGET;
        for s in &expr.selectors {
            signal_selectors(s, recorded, RECORDING_DEPTH, &mut budget, &mut sels);
        }
        if sels.is_empty() || !expr.feasible(&|s| selector_possible(s, jobs)) {
            return None;
        }
        Some(Judged::Candidate(ri, sels))
    };
    let prepared: Vec<Prepared> = found
        .evaluators
        .iter()
        .map(|e| {
            // Only series this evaluator records itself: another's are in another TSDB.
            let mut recorded = Recorded::new();
            for r in e.records.iter().map(|&i| &records[i]) {
                recorded.entry(r.series.as_str()).or_default().push(&r.query);
            }
            let mut judged = Vec::new();
            e.judge_rules(&mut judged, |ri, jobs| judge(ri, jobs, &recorded));
            let mut p = Prepared {
                candidates: Vec::new(),
                anywhere: Vec::new(),
                by_namespace: HashMap::new(),
                constants: Vec::new(),
            };
            for j in judged {
                let (ri, sels) = match j {
                    Judged::Constant(ri) => {
                        p.constants.push(&rules[ri]);
                        continue;
                    }
                    Judged::Candidate(ri, sels) => (ri, sels),
                };
                let c = p.candidates.len();
                let required: Option<Vec<String>> = sels.iter().map(required_namespace).collect();
                match required {
                    Some(mut namespaces) => {
                        namespaces.sort();
                        namespaces.dedup();
                        for ns in namespaces {
                            p.by_namespace.entry(ns).or_default().push(c);
                        }
                    }
                    None => p.anywhere.push(c),
                }
                p.candidates.push((ri, sels));
            }
            p
        })
        .collect();
    let mut per_workload = BTreeMap::new();
    let mut self_monitored = BTreeMap::new();
    let mut near_misses = BTreeMap::new();
    let self_scraped = scraping_themselves_only(&found.evaluators);
    // Each cost model (Kubecost's cost-model, OpenCost) and the Prometheus it reads.
    let cost_model_reads: Vec<(usize, usize)> = crate::model::references::prometheus_reads(model, classes)
        .into_iter()
        .filter(|(reader, _, _)| classes[*reader].profile.as_deref() == Some("cost-model"))
        .map(|(reader, prometheus, _)| (reader, prometheus))
        .collect();
    let in_app = inapp::diagnostics(model, &cost_model_reads);
    for (wi, w) in model.workloads.iter().enumerate() {
        if !classes[wi].metering {
            continue;
        }
        let mut t = target(model, w);
        t.scrapes_itself_only = self_scraped.contains(&wi);
        let mut cov = WorkloadCoverage::default();
        let mut own: BTreeMap<&'static str, Vec<Item>> = BTreeMap::new();
        let mut misses: BTreeMap<&'static str, (u8, String)> = BTreeMap::new();
        for ((e, p), jobs) in found.evaluators.iter().zip(&prepared).zip(&job_indexes) {
            let dead_mans_switch = p.constants.iter().any(|r| reaches(e, &alert_labels(r, &t)));
            let near = p.by_namespace.get(&t.namespace).map(Vec::as_slice).unwrap_or_default();
            for (ri, sels) in p.anywhere.iter().chain(near).map(|&c| &p.candidates[c]) {
                let r = &rules[*ri];
                let for_s = r.for_.as_deref().and_then(crate::model::prometheus::duration_seconds).unwrap_or(0.0);
                for mode in MODES {
                    let mut miss = None;
                    let hit = sels.iter().find(|s| match covers(s, mode, &t, wi, jobs.as_ref(), for_s) {
                        Ok(()) => true,
                        Err(m) => {
                            miss = miss.or(m);
                            false
                        }
                    });
                    // Operands matched with the workload's series must hold for it, in this failure.
                    let jobs = jobs.as_ref();
                    let about = hit.is_some()
                        && r.parsed.as_ref().is_ok_and(|q| {
                            q.about(&|i, on| {
                                let s = &q.selectors[i];
                                identity_admits_on(s, &t, on)
                                    && (on == 0 || state_admits(s, mode))
                                    && too_rare(s, jobs, for_s).is_none()
                            })
                        });
                    if !about {
                        let operand = hit.zip(r.parsed.as_ref().ok()).and_then(|(h, q)| excluding_operand(h, q, &t));
                        let rare = |s| too_rare(s, jobs, for_s).map(|every| Miss::Sparse(s, every, for_s));
                        let sparse = hit.and(r.parsed.as_ref().ok()).and_then(|q| q.selectors.iter().find_map(rare));
                        if let Some(m) = operand.or(sparse).or(miss)
                            && misses.get(mode).is_none_or(|(rank, _)| m.rank() < *rank)
                        {
                            misses.insert(mode, (m.rank(), format!("{} ({}) {}", r.alert, r.holder, m.describe())));
                        }
                        continue;
                    }
                    let item = Item {
                        alert: r.alert.to_string(),
                        rule_object: r.holder.to_string(),
                        evaluator: e.id.clone(),
                        reaches: reaches(e, &alert_labels(r, &t)),
                    };
                    // A Prometheus that is down, crash-looping or OOM-killed evaluates nothing: it
                    // cannot report itself, unless a dead man's switch is wired.
                    if e.workload == Some(wi) && !dead_mans_switch {
                        own.entry(mode).or_default().push(item);
                        continue;
                    }
                    cov.mode_mut(mode).push(item);
                }
            }
        }
        // Kubecost reports the Prometheus it reads unreachable, from outside it.
        for item in in_app.get(&wi).into_iter().flatten() {
            inapp::MODES.iter().for_each(|m| cov.mode_mut(m).push(item.clone()));
        }
        for m in MODES {
            let v = cov.mode_mut(m);
            v.sort();
            v.dedup();
        }
        own.retain(|m, _| cov.mode(m).is_empty());
        misses.retain(|m, _| cov.mode(m).is_empty());
        if !misses.is_empty() {
            near_misses.insert(wi, misses.into_iter().map(|(m, (_, text))| (m, text)).collect());
        }
        if !own.is_empty() {
            for items in own.values_mut() {
                items.sort();
                items.dedup();
            }
            self_monitored.insert(wi, own);
        }
        per_workload.insert(wi, cov);
    }
    if found.evaluators.is_empty() {
        per_workload.values_mut().for_each(|c: &mut WorkloadCoverage| c.unknown = true);
    }
    Analysis {
        rules,
        evaluators: found.evaluators,
        per_workload,
        self_monitored,
        near_misses,
        unselected: found.unselected,
        unknown_loaded: found.unknown_loaded,
        cost_model_reads,
    }
}

/// The workloads that are a Prometheus of the input whose own jobs scrape it, and no other
/// evaluator of known jobs does: found once, in one pass over every job's targets.
fn scraping_themselves_only(evaluators: &[Evaluator]) -> BTreeSet<usize> {
    let mut scrapers: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for (ei, e) in evaluators.iter().enumerate() {
        for &t in e.jobs.iter().flatten().flat_map(|j| &j.targets) {
            scrapers.entry(t).or_default().insert(ei);
        }
    }
    scrapers
        .into_iter()
        .filter(|(w, by)| by.len() == 1 && by.iter().all(|&ei| evaluators[ei].workload == Some(*w)))
        .map(|(w, _)| w)
        .collect()
}

/// How many recording rules deep a recorded series is followed to the signals it is made of.
const RECORDING_DEPTH: usize = 3;
/// How many selectors of recording rules one alert's expression may be followed through: rules
/// that record the same series many times over, each reading it again, would otherwise multiply.
const RECORDING_BUDGET: usize = 10_000;

fn is_signal(s: &Selector) -> bool {
    s.metric.as_deref().is_some_and(|m| signals().get(m).is_some())
}

/// The signal selectors a selector stands for: itself if it reads a signal; for a series a
/// recording rule of the input records (kube-prometheus-stack's
/// `node_namespace_pod_container:container_memory_working_set_bytes`), the selectors of the
/// recording rule's expression whose series the recorded ones still tell apart (they keep the
/// signal's identity labels: a sum per namespace of pod phases says nothing of one pod), narrowed
/// by this selector's matchers on identity labels.
fn signal_selectors(s: &Selector, recorded: &Recorded, depth: usize, budget: &mut usize, out: &mut Vec<Selector>) {
    if is_signal(s) {
        out.push(s.clone());
        return;
    }
    let Some(queries) = s.metric.as_deref().and_then(|m| recorded.get(m)) else { return };
    if depth == 0 {
        return;
    }
    let identity = s.matchers.iter().filter(|m| promql::IDENTITY_LABELS.contains(&m.name.as_str()));
    for q in queries {
        for (i, inner) in q.selectors.iter().enumerate().filter(|(_, t)| !t.in_absent) {
            if *budget == 0 {
                return;
            }
            *budget -= 1;
            let signal = inner.metric.as_deref().and_then(|m| signals().get(m));
            let needs = signal.map_or(0, |sig| promql::identity(sig.identity.iter().map(String::as_str)));
            if q.kept(i) & needs != needs {
                continue;
            }
            let mut narrowed = inner.clone();
            narrowed.matchers.extend(identity.clone().cloned());
            // absent() of a recorded series fires when its signals are missing.
            narrowed.in_absent = s.in_absent;
            signal_selectors(&narrowed, recorded, depth - 1, budget, out);
        }
    }
}

/// Workloads whose every covering alert, for some mode, reaches no one: by evaluator.
pub fn unrouted(model: &Model<'_>, a: &Analysis) -> BTreeMap<String, BTreeSet<(usize, &'static str)>> {
    let mut out: BTreeMap<String, BTreeSet<(usize, &'static str)>> = BTreeMap::new();
    for (&wi, cov) in &a.per_workload {
        for &m in modes_of(model, &model.workloads[wi]) {
            let items = cov.mode(m);
            if !items.is_empty() && items.iter().all(|i| !i.reaches) {
                for i in items {
                    out.entry(i.evaluator.clone()).or_default().insert((wi, m));
                }
            }
        }
    }
    out
}

pub fn workload_span(model: &Model<'_>, w: &Workload<'_>) -> Span {
    let o = &model.objects[w.object];
    o.node.path(&["metadata", "name"]).map(|n| n.span()).unwrap_or(o.node.span())
}
