//! Scrape jobs: what each evaluator scrapes, under which `job` label, from which workloads,
//! and which metrics it keeps. Operator Prometheus servers get theirs from the ServiceMonitors,
//! PodMonitors, ScrapeConfigs and Probes they select; raw ones from their scrape configs.

use foldhash::{HashMap, HashMapExt};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::OnceLock;

use serde_json::{Value, json};

use super::discovery::{self, Discovery, Tags};
use super::evaluators::{namespace_selected, object_selected};
use super::promql::{LabelMatcher, Op, Selector};
use super::relabel::{self, JobRename, Relabel, Stored};
use crate::classify::Classification;
use crate::input::Node;
use crate::knowledge;
use crate::model::references::{selects, service_of_url};
use crate::model::{Model, Object, prometheus, string_map};

pub const KSM: &str = "kube-state-metrics";
pub const CADVISOR: &str = "cadvisor";
pub const TARGET: &str = "target";
/// A Probe's job: `probe_success` of the URLs it probes.
pub const PROBE: &str = "probe";

#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub sources: BTreeSet<&'static str>,
    pub ksm_major: Option<u32>,
    /// Workloads scraped under this job (for `up`).
    pub targets: BTreeSet<usize>,
    /// The metric names its metric relabelings let through (any of its endpoints').
    pub stored: Stored,
    /// What its endpoints of each `SPLIT` source store, when endpoints of other sources share its
    /// name: kube-prometheus-stack's kubelet job scrapes /metrics, /metrics/cadvisor and
    /// /metrics/probes, and only the cAdvisor endpoint's relabelings decide which `container_*`
    /// series stay; kube-state-metrics' own telemetry endpoint has no `kube_*` series to keep.
    pub(super) parts: [Option<Part>; SPLIT.len()],
    /// Read from a Secret (additionalScrapeConfigs): its name is part of a Secret value, never shown.
    pub in_secret: bool,
    /// When its kube-state-metrics series come only from workloads that emit some of them
    /// (cost-model), the names they emit; None when a kube-state-metrics is scraped.
    pub ksm_emits: Option<BTreeSet<&'static str>>,
    /// The `namespace` label its series carry when it is not the target's: a Probe's own.
    pub namespace: Option<String>,
    /// Its `job` label is written by a relabeling from what the input does not tell: any `job`
    /// matcher may select it, and its name only describes it.
    pub any_name: bool,
    /// Where the monitor that makes it writes its metric relabelings, for findings about what they
    /// drop (a raw scrape config's are found in its file).
    pub relabeled_at: Option<RelabeledAt>,
    /// How often its targets are scraped, in seconds: the shortest of its endpoints', when each
    /// one's is known.
    pub interval: Option<f64>,
}

/// Sources whose series some endpoints of a job expose and others do not.
const SPLIT: [&str; 2] = [CADVISOR, KSM];

/// What some of a job's endpoints store, and where their metric relabelings are written.
#[derive(Debug, Clone)]
pub(super) struct Part {
    stored: Stored,
    relabeled_at: Option<RelabeledAt>,
}

/// A monitor's `metricRelabelings` key: the object, its source and template, and the key's span.
#[derive(Debug, Clone)]
pub struct RelabeledAt {
    pub object: std::sync::Arc<crate::model::ObjectId>,
    pub source: crate::input::SourceId,
    pub template: Option<std::sync::Arc<str>>,
    pub span: crate::input::Span,
}

impl Job {
    pub(super) fn new(name: String, sources: BTreeSet<&'static str>, targets: BTreeSet<usize>) -> Job {
        Job {
            name,
            sources,
            ksm_major: None,
            targets,
            stored: Stored::All,
            parts: Default::default(),
            in_secret: false,
            ksm_emits: None,
            namespace: None,
            any_name: false,
            relabeled_at: None,
            interval: None,
        }
    }

    /// Whether its targets expose `metric` of `source` (a cost-model job only some kube_* series).
    pub fn exposes(&self, source: &str, metric: &str) -> bool {
        self.sources.contains(source) && (source != KSM || self.ksm_emits.as_ref().is_none_or(|e| e.contains(metric)))
    }

    /// Whether it scrapes a kube-state-metrics itself, not only cost-model's kube_* series.
    pub fn scrapes_ksm(&self) -> bool {
        self.sources.contains(KSM) && self.ksm_emits.is_none()
    }

    /// Whether it stores `metric` of `source`: for a `SPLIT` source, what its endpoints of that
    /// source store.
    pub fn stores(&self, source: &str, metric: &str) -> bool {
        self.part(source).map_or(&self.stored, |p| &p.stored).keeps(metric)
    }

    /// Where the metric relabelings that decide what it stores of `source` are written.
    pub fn relabeled_for(&self, source: &str) -> Option<&RelabeledAt> {
        self.part(source).map_or(self.relabeled_at.as_ref(), |p| p.relabeled_at.as_ref())
    }

    fn part(&self, source: &str) -> Option<&Part> {
        SPLIT.iter().position(|s| *s == source).and_then(|i| self.parts[i].as_ref())
    }

    /// Its endpoints of the `i`th `SPLIT` source: a job not yet merged that has it is one.
    fn take_part(&mut self, i: usize) -> Option<Part> {
        let whole = || Part { stored: self.stored.clone(), relabeled_at: self.relabeled_at.clone() };
        self.parts[i].take().or_else(|| self.sources.contains(SPLIT[i]).then(whole))
    }

    /// Takes in another endpoint or monitor of the same job name.
    fn absorb(&mut self, mut other: Job) {
        for i in 0..SPLIT.len() {
            self.parts[i] = match (self.take_part(i), other.take_part(i)) {
                (Some(mut a), Some(b)) => {
                    a.stored.merge(&b.stored);
                    a.relabeled_at = a.relabeled_at.or(b.relabeled_at);
                    Some(a)
                }
                (a, b) => a.or(b),
            };
        }
        let full = self.scrapes_ksm() || other.scrapes_ksm();
        self.ksm_emits = match (self.ksm_emits.take(), other.ksm_emits) {
            _ if full => None,
            (Some(a), Some(b)) => Some(a.union(&b).copied().collect()),
            (a, b) => a.or(b),
        };
        self.sources.extend(other.sources);
        self.targets.extend(other.targets);
        self.ksm_major = self.ksm_major.or(other.ksm_major);
        self.stored.merge(&other.stored);
        self.relabeled_at = self.relabeled_at.take().or(other.relabeled_at);
        self.interval = self.interval.zip(other.interval).map(|(a, b)| a.min(b));
    }
}

/// A scrape interval as written (`30s`, `1m`): none when it is not a positive duration.
pub(super) fn interval_of(written: Option<&str>) -> Option<f64> {
    written.and_then(prometheus::duration_seconds).filter(|s| *s > 0.0)
}

/// An endpoint's interval as written: VictoriaMetrics' endpoints also take `scrape_interval`, which wins over
/// `interval` (its operator's `setScrapeIntervalToWithLimit`).
pub(super) fn endpoint_interval(e: &Node) -> Option<f64> {
    interval_of(e.str_at(&["scrape_interval"]).or_else(|| e.str_at(&["interval"])))
}

/// The scrape interval written, else `default` (one of `prometheus`'s defaults), in seconds; 0,
/// which judges no range, only if the default did not read, which its test rules out.
pub(super) fn interval_or(written: Option<&str>, default: &str) -> f64 {
    interval_of(written).or_else(|| interval_of(Some(default))).unwrap_or(0.0)
}

/// The interval a scraper gives its jobs. `default`: its own, for those that set none. `min` and
/// `max`: a VMAgent's `minScrapeInterval` and `maxScrapeInterval`, which its operator applies to
/// the intervals endpoints set, not to its own (VictoriaMetrics/operator,
/// `setScrapeIntervalToWithLimit`: the minimum when it is at least the interval, else the maximum
/// when it is below it).
#[derive(Clone, Copy, Debug)]
pub(super) struct Every {
    pub default: f64,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Every {
    /// A prometheus-operator `Prometheus`'s: its `scrapeInterval` (`spec`), else 30s.
    pub fn unclamped(spec: Option<&Node>) -> Every {
        let default =
            interval_or(spec.and_then(|s| s.str_at(&["scrapeInterval"])), prometheus::OPERATOR_SCRAPE_INTERVAL);
        Every { default, min: None, max: None }
    }

    /// A VMAgent's (`spec`): its `scrapeInterval`, else 30s, and its limits.
    pub fn clamped(spec: Option<&Node>) -> Every {
        let limit = |key: &str| interval_of(spec.and_then(|s| s.str_at(&[key])));
        Every { min: limit("minScrapeInterval"), max: limit("maxScrapeInterval"), ..Every::unclamped(spec) }
    }

    /// The interval of a job that sets `written` (in seconds), or none.
    pub fn of(&self, written: Option<f64>) -> f64 {
        let Some(w) = written else { return self.default };
        match (self.min, self.max) {
            (Some(min), _) if min >= w => min,
            (_, Some(max)) if max < w => max,
            _ => w,
        }
    }
}

/// Jobs merged by name as they come: every endpoint or monitor of one job name adds to it (a
/// monorepo's Prometheus has thousands of monitors).
#[derive(Default)]
pub(super) struct JobSet {
    pub jobs: Vec<Job>,
    named: HashMap<String, usize>,
}

impl JobSet {
    pub(super) fn add(&mut self, job: Job) {
        match self.named.get(&job.name) {
            Some(&at) => self.jobs[at].absorb(job),
            None => {
                self.named.insert(job.name.clone(), self.jobs.len());
                self.jobs.push(job);
            }
        }
    }
}

/// A selector's `job` matchers other than `=`: operator (1 `!=`, 2 `=~`, 3 `!~`) and value.
type JobMatchers = Vec<(u8, compact_str::CompactString)>;

/// An evaluator's scrape jobs as selectors look them up: by name for `job="x"`, and once per
/// distinct set of other `job` matchers (thousands of rules share a few, and a monorepo's
/// Prometheus scrapes thousands of jobs).
pub struct JobIndex<'e> {
    pub jobs: &'e [Job],
    by_name: HashMap<&'e str, usize>,
    /// Job names in order, each with its index in `jobs`.
    sorted: Vec<(&'e str, usize)>,
    /// The names that may be shown, in order: not those read from a Secret, nor descriptions of
    /// jobs of any name.
    pub shown: Vec<&'e str>,
    /// Jobs of any name (`Job::any_name`): every `job` matcher may select them.
    any_name: Vec<usize>,
    judged: RefCell<HashMap<JobMatchers, Rc<[usize]>>>,
}

impl<'e> JobIndex<'e> {
    pub fn new(jobs: &'e [Job]) -> JobIndex<'e> {
        let mut by_name = HashMap::with_capacity(jobs.len());
        let named = jobs.iter().enumerate().filter(|(_, j)| !j.any_name);
        for (i, j) in named.clone() {
            by_name.entry(j.name.as_str()).or_insert(i);
        }
        let mut sorted: Vec<(&str, usize)> = named.map(|(i, j)| (j.name.as_str(), i)).collect();
        sorted.sort_unstable();
        let shown = sorted.iter().filter(|(_, i)| !jobs[*i].in_secret).map(|&(n, _)| n).collect();
        let any_name = (0..jobs.len()).filter(|&i| jobs[i].any_name).collect();
        JobIndex { jobs, by_name, sorted, shown, any_name, judged: RefCell::default() }
    }

    /// Indices into `jobs` of the jobs `sel`'s `job` matchers admit: all of them when it has none.
    pub fn admitted(&self, sel: &Selector) -> Rc<[usize]> {
        let matchers: Vec<&LabelMatcher> = sel.matchers.iter().filter(|m| m.name == "job").collect();
        if let Some(eq) = matchers.iter().find(|m| matches!(m.op, Op::Equal)) {
            let named = self.by_name.get(eq.value.as_str()).filter(|_| sel.admits("job", &eq.value));
            return self.with_any_name(named.copied().into_iter().collect());
        }
        let op = |m: &LabelMatcher| match m.op {
            Op::Equal => 0,
            Op::NotEqual => 1,
            Op::Re(_) => 2,
            Op::NotRe(_) => 3,
        };
        let key: JobMatchers = matchers.iter().map(|m| (op(m), m.value.clone())).collect();
        if let Some(found) = self.judged.borrow().get(&key) {
            return found.clone();
        }
        let named = |i: &usize| !self.jobs[*i].any_name && sel.admits("job", &self.jobs[*i].name);
        let found = self.candidates(&matchers).filter(named).collect();
        let found = self.with_any_name(found);
        self.judged.borrow_mut().insert(key, found.clone());
        found
    }

    /// `found` (named jobs, in index order) and the jobs of any name, in index order.
    fn with_any_name(&self, mut found: Vec<usize>) -> Rc<[usize]> {
        if !self.any_name.is_empty() {
            found.extend(&self.any_name);
            found.sort_unstable();
        }
        found.into()
    }

    /// The jobs that can pass `matchers`, in index order: with a regex matcher whose matches all
    /// start with known literals, only the names under those; else every job.
    fn candidates(&self, matchers: &[&LabelMatcher]) -> Box<dyn Iterator<Item = usize> + '_> {
        let prefixes = matchers.iter().find_map(|m| match &m.op {
            Op::Re(p) => p.prefixes(),
            _ => None,
        });
        let Some(prefixes) = prefixes else { return Box::new(0..self.jobs.len()) };
        let mut found: Vec<usize> = Vec::new();
        for p in &prefixes {
            let start = self.sorted.partition_point(|(n, _)| n.as_bytes() < p.as_slice());
            let under = self.sorted[start..].iter().take_while(|(n, _)| n.as_bytes().starts_with(p));
            found.extend(under.map(|&(_, i)| i));
        }
        found.sort_unstable();
        found.dedup();
        Box::new(found.into_iter())
    }
}

fn ksm_major(model: &Model<'_>, w: usize) -> Option<u32> {
    model.workloads[w].running().find_map(|c| c.spec.image.as_deref().and_then(prometheus::major_version))
}

/// Whether `port` (of the Service `svc`, or a container port's name) reaches kube-state-metrics'
/// own telemetry port on workload `w`: `--telemetry-port`, 8081 by default (kube-state-metrics
/// docs/developer/cli-arguments.md), where it serves its process metrics and no `kube_*` series.
fn ksm_telemetry(
    model: &Model<'_>,
    classes: &[Classification],
    svc: Option<&Object<'_>>,
    port: &str,
    w: usize,
) -> bool {
    if classes[w].component.as_deref() != Some("kube-state-metrics") {
        return false;
    }
    let workload = &model.workloads[w];
    let named = |name: &str| {
        let ports = workload.running().flat_map(|c| c.spec.ports.iter().flatten());
        ports.filter(|p| p.name.as_deref() == Some(name)).map(|p| i64::from(p.container_port)).next()
    };
    let reached = match svc {
        None => named(port),
        Some(s) => {
            let ports = s.node.path(&["spec", "ports"]).and_then(Node::as_seq).unwrap_or_default();
            let Some(p) = ports.iter().find(|p| p.str_at(&["name"]) == Some(port)) else { return false };
            match p.str_at(&["targetPort"]).or_else(|| p.str_at(&["port"])) {
                Some(t) => t.parse().ok().or_else(|| named(t)),
                None => None,
            }
        }
    };
    let telemetry = workload.running().find_map(|c| {
        let flags = prometheus::flags(c);
        prometheus::flag(&flags, "telemetry-port").and_then(|f| f.value.as_deref()?.parse().ok())
    });
    reached == Some(telemetry.unwrap_or(8081))
}

/// What a job's targets add to its sources: kube-state-metrics among them makes it a KSM job,
/// and a workload that emits some kube_* series (cost-model) a KSM job of those series only.
fn sources_of(model: &Model<'_>, classes: &[Classification], job: &mut Job) {
    let mut emitted: Option<BTreeSet<&'static str>> = None;
    for &t in &job.targets {
        if classes[t].component.as_deref() == Some("kube-state-metrics") {
            job.sources.insert(KSM);
            job.ksm_major = job.ksm_major.or_else(|| ksm_major(model, t));
        } else if let Some(names) = ksm_emitted(model, &classes[t], t) {
            emitted.get_or_insert_default().extend(names);
        }
    }
    if let Some(names) = emitted
        && job.sources.insert(KSM)
    {
        job.ksm_emits = Some(names);
    }
}

/// The kube_* series a workload emits itself, per `ksm_emitters` in knowledge/signals.yaml and
/// the `EMIT_*` variables of its container (a variable not set literally keeps its default).
fn ksm_emitted(model: &Model<'_>, class: &Classification, w: usize) -> Option<Vec<&'static str>> {
    let profile = class.profile.as_deref()?;
    let emitter = knowledge::signals().ksm_emitters.iter().find(|e| e.profile == profile)?;
    let workload = &model.workloads[w];
    let c = workload.primary_or_first(class.primary.as_deref())?;
    let env = |name: &str| {
        let vars = c.spec.env.iter().flatten();
        vars.filter(|v| v.name == name).find_map(|v| v.value.as_deref()).map(|v| v.trim().eq_ignore_ascii_case("true"))
    };
    if !env("EMIT_KSM_V1_METRICS").unwrap_or(true) || env("EMIT_KSM_V1_METRICS_ONLY").unwrap_or(false) {
        return Some(Vec::new());
    }
    let deprecated = env("EMIT_DEPRECATED_METRICS").unwrap_or(false).then_some(&emitter.deprecated);
    Some(emitter.metrics.iter().chain(deprecated.into_iter().flatten()).map(String::as_str).collect())
}

/// Services by namespace and each of their labels, workloads by namespace and each of their pod
/// labels: the first pair of a selector narrows its candidates to those that carry it, so that
/// thousands of monitors in one namespace do not each pass over all its Services and workloads.
pub(super) struct ByLabel<'m, 'a> {
    services: HashMap<(&'m str, &'a str, &'a str), Vec<&'m Object<'a>>>,
    workloads: HashMap<(&'m str, &'a str, &'a str), Vec<usize>>,
}

impl<'m, 'a> ByLabel<'m, 'a> {
    pub(super) fn new(model: &'m Model<'a>) -> ByLabel<'m, 'a> {
        // The two indexes are independent: built side by side.
        let (services, workloads) = rayon::join(
            || {
                let mut services: HashMap<_, Vec<_>> = HashMap::new();
                for (_, svc) in model.every("", "Service") {
                    for (k, v) in svc.labels() {
                        services.entry((svc.namespace(), k, v)).or_default().push(svc);
                    }
                }
                services
            },
            || {
                let mut workloads: HashMap<_, Vec<_>> = HashMap::new();
                for (i, w) in model.workloads.iter().enumerate() {
                    for (k, v) in w.pod_labels.iter() {
                        workloads.entry((model.objects[w.object].namespace(), k, v)).or_default().push(i);
                    }
                }
                workloads
            },
        );
        ByLabel { services, workloads }
    }

    /// The Services of `ns` whose labels hold every pair of `selector` (none for an empty one).
    fn services(&self, ns: &str, selector: &BTreeMap<&str, &str>) -> Vec<&'m Object<'a>> {
        let Some((k, v)) = selector.iter().next() else { return Vec::new() };
        let candidates = self.services.get(&(ns, *k, *v)).map_or(&[][..], Vec::as_slice);
        candidates.iter().copied().filter(|svc| selects(selector, &svc.labels())).collect()
    }

    /// The workloads of `ns` whose pod labels hold every pair of `selector` (none for an empty one).
    fn workloads(&self, model: &Model<'_>, ns: &str, selector: &BTreeMap<&str, &str>) -> BTreeSet<usize> {
        let Some((k, v)) = selector.iter().next() else { return BTreeSet::new() };
        let candidates = self.workloads.get(&(ns, *k, *v)).map_or(&[][..], Vec::as_slice);
        candidates.iter().copied().filter(|&i| selects(selector, &model.workloads[i].pod_labels)).collect()
    }
}

/// `all` holds every namespace of the input once some monitor asked for them (`any: true`).
fn monitor_namespaces<'a>(model: &Model<'a>, mon: &Object<'a>, all: &OnceLock<BTreeSet<String>>) -> Vec<String> {
    let ns_sel = mon.node.path(&["spec", "namespaceSelector"]);
    if ns_sel.and_then(|s| s.get("any")).and_then(Node::as_str) == Some("true") {
        let all = all.get_or_init(|| model.objects.iter().filter_map(|o| o.id.namespace.clone()).collect());
        let mut all = all.clone();
        all.insert(mon.namespace().to_owned());
        return all.into_iter().collect();
    }
    let names: Vec<String> = ns_sel
        .and_then(|s| s.get("matchNames"))
        .and_then(Node::as_seq)
        .unwrap_or_default()
        .iter()
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect();
    if names.is_empty() { vec![mon.namespace().to_owned()] } else { names }
}

/// `me` is the workload of Prometheus `p`.
pub(super) fn operator_jobs(model: &Model<'_>, classes: &[Classification], p: &Object<'_>, me: usize) -> Vec<Job> {
    let spec = p.node.get("spec");
    let own = p.namespace();
    let every = Every::unclamped(spec);
    let mut jobs = JobSet::default();
    // Built now: monitors need it. Static targets that name a Service use it too.
    let by_label = OnceLock::from(ByLabel::new(model));
    let indexed = by_label.get_or_init(|| ByLabel::new(model));
    let all_namespaces = OnceLock::new();
    // The objects of a kind this Prometheus's selector pair picks, judged on all cores (a
    // monorepo's Prometheus sees thousands of monitors, and reading one's labels makes a map).
    let selected = |kind: &str, sel_key: &str, ns_key: &str| -> Vec<&Object> {
        use rayon::prelude::*;
        let sel = spec.and_then(|s| s.get(sel_key));
        let ns_sel = spec.and_then(|s| s.get(ns_key));
        let of_kind: Vec<&Object> = model.every("monitoring.coreos.com", kind).map(|(_, o)| o).collect();
        of_kind
            .into_par_iter()
            .filter(|o| object_selected(sel, &o.labels()) && namespace_selected(model, ns_sel, own, o.namespace()))
            .collect()
    };
    for (kind, sel_key, ns_key) in [
        ("ServiceMonitor", "serviceMonitorSelector", "serviceMonitorNamespaceSelector"),
        ("PodMonitor", "podMonitorSelector", "podMonitorNamespaceSelector"),
    ] {
        // Each monitor's jobs on all cores (a monorepo's Prometheus has thousands of monitors),
        // merged by name in monitor order.
        use rayon::prelude::*;
        let per_monitor: Vec<Vec<Job>> = selected(kind, sel_key, ns_key)
            .par_iter()
            .map(|mon| monitor_jobs(model, classes, indexed, &all_namespaces, mon, &every))
            .collect();
        per_monitor.into_iter().flatten().for_each(|j| jobs.add(j));
    }
    // A ScrapeConfig or a Probe is one job, labelled `spec.jobName` or the operator's own name for
    // it. A ScrapeConfig scrapes what its static targets, DNS names and Kubernetes discovery find
    // in the input; a Probe probes URLs, and those that name a Service of the input probe its
    // workloads.
    let no_ksm = no_ksm(classes);
    for (kind, sel_key, ns_key, prefix) in [
        ("ScrapeConfig", "scrapeConfigSelector", "scrapeConfigNamespaceSelector", "scrapeConfig"),
        ("Probe", "probeSelector", "probeNamespaceSelector", "probe"),
    ] {
        for o in selected(kind, sel_key, ns_key) {
            let name = o.node.str_at(&["spec", "jobName"]).filter(|n| !n.is_empty()).map(str::to_owned);
            let name = name.unwrap_or_else(|| format!("{prefix}/{}/{}", o.namespace(), o.id.name));
            let job = if kind == "ScrapeConfig" {
                raw_job(model, classes, &scrape_config_of(o, &name), me, no_ksm, &by_label)
            } else {
                let statics = o.node.path(&["spec", "targets", "staticConfig"]);
                let urls = statics.and_then(|s| s.get("static")).and_then(Node::as_seq).unwrap_or_default();
                let urls = urls.iter().filter_map(Node::as_str);
                let targets = urls.flat_map(|u| service_workloads(model, &by_label, u, o.namespace())).collect();
                // The operator labels the series with the Probe's namespace unless its labels set one.
                let labelled = statics.and_then(|s| s.str_at(&["labels", "namespace"]));
                let namespace = Some(labelled.unwrap_or(o.namespace()).to_owned());
                Some(Job { namespace, ..Job::new(name.clone(), BTreeSet::from([PROBE]), targets) })
            };
            let interval =
                interval_of(o.node.str_at(&["spec", if kind == "Probe" { "interval" } else { "scrapeInterval" }]));
            let mut job = job.unwrap_or_else(|| Job::new(name, BTreeSet::new(), BTreeSet::new()));
            job.interval = Some(every.of(interval));
            jobs.add(job);
        }
    }
    jobs.jobs
}

/// One endpoint of a monitor: the job its targets get, what it stores, whether it scrapes cAdvisor.
struct Endpoint<'a> {
    rename: JobRename,
    stored: Stored,
    relabeled_at: Option<RelabeledAt>,
    cadvisor: bool,
    /// The port it names: a Service's port, or a PodMonitor's container port.
    port: Option<&'a str>,
    interval: f64,
}

/// The scrape jobs one selected ServiceMonitor or PodMonitor gives its Prometheus (or
/// VMServiceScrape or VMPodScrape its VMAgent, whose operator writes the same scrape config from
/// differently named fields): one per job name its endpoints give its targets. `every`: the
/// scraper's intervals.
pub(super) fn monitor_jobs(
    model: &Model<'_>,
    classes: &[Classification],
    by_label: &ByLabel<'_, '_>,
    all_namespaces: &OnceLock<BTreeSet<String>>,
    mon: &Object<'_>,
    every: &Every,
) -> Vec<Job> {
    let kind = mon.id.kind.as_str();
    let service_monitor = matches!(kind, "ServiceMonitor" | "VMServiceScrape");
    let (relabelings, metric_relabelings) = match mon.id.group() {
        "operator.victoriametrics.com" => ("relabelConfigs", "metricRelabelConfigs"),
        _ => ("relabelings", "metricRelabelings"),
    };
    let target_sel = string_map(mon.node.path(&["spec", "selector", "matchLabels"]));
    // The operator's own step: the `jobLabel` label of the Service (or pod), when the target has it.
    let family = if service_monitor { "service" } else { "pod" };
    let job_label = mon.node.str_at(&["spec", "jobLabel"]).map(|l| relabel::job_label_source(family, l));
    let endpoints_key = if service_monitor { "endpoints" } else { "podMetricsEndpoints" };
    let listed = mon.node.path(&["spec", endpoints_key]).and_then(Node::as_seq).unwrap_or_default();
    let mut endpoints: Vec<Endpoint> = listed
        .iter()
        .map(|e| {
            let relabels = |key: &str| e.get(key).and_then(Node::as_seq).unwrap_or_default().iter();
            Endpoint {
                rename: JobRename::of(job_label.as_deref(), relabels(relabelings).map(Relabel::from_monitor)),
                stored: Stored::of(relabels(metric_relabelings).map(Relabel::from_monitor)),
                relabeled_at: e.entry(metric_relabelings).map(|k| RelabeledAt {
                    object: mon.id.clone(),
                    source: mon.source,
                    template: mon.template.cloned(),
                    span: k.key.span(),
                }),
                cadvisor: e.str_at(&["path"]).is_some_and(|p| p.contains("cadvisor")),
                port: e.str_at(&["port"]),
                interval: every.of(endpoint_interval(e)),
            }
        })
        .collect();
    if endpoints.is_empty() {
        endpoints.push(Endpoint {
            rename: JobRename::of(job_label.as_deref(), []),
            stored: Stored::All,
            relabeled_at: None,
            cadvisor: false,
            port: None,
            interval: every.default,
        });
    }
    // A job whose name a relabeling sets from what the input does not tell: any name.
    let unknown = format!("{kind} {}/{} (job relabeled)", mon.namespace(), mon.id.name);
    // `found`: a target of the input was found (a Service, or a PodMonitor's pods).
    // `svc`: the Service a ServiceMonitor's targets are behind.
    let job = |name: Option<String>, ep: &Endpoint, targets: BTreeSet<usize>, found: bool, svc: Option<&Object<'_>>| {
        let any_name = name.is_none();
        let sources = if found { BTreeSet::from([TARGET]) } else { BTreeSet::new() };
        let mut job = Job {
            stored: ep.stored.clone(),
            relabeled_at: ep.relabeled_at.clone(),
            any_name,
            interval: Some(ep.interval),
            ..Job::new(name.unwrap_or(unknown.clone()), sources, targets)
        };
        if ep.cadvisor {
            job.sources.insert(CADVISOR);
        }
        sources_of(model, classes, &mut job);
        let telemetry = |&t: &usize| ep.port.is_some_and(|port| ksm_telemetry(model, classes, svc, port, t));
        if job.ksm_emits.is_none() && !job.targets.is_empty() && job.targets.iter().all(telemetry) {
            job.sources.remove(KSM);
        }
        job
    };
    let own = format!("{}/{}", mon.namespace(), mon.id.name);
    let mut jobs = Vec::new();
    for ns in monitor_namespaces(model, mon, all_namespaces) {
        let services = if service_monitor { by_label.services(&ns, &target_sel) } else { Vec::new() };
        // A PodMonitor's targets are its pods; a ServiceMonitor's, the pods behind each Service.
        let groups: Vec<(Option<&Object<'_>>, BTreeSet<usize>)> = if service_monitor {
            let behind =
                |svc: &Object<'_>| by_label.workloads(model, &ns, &string_map(svc.node.path(&["spec", "selector"])));
            services.iter().map(|svc| (Some(*svc), behind(svc))).collect()
        } else {
            let targets = by_label.workloads(model, &ns, &target_sel);
            if targets.is_empty() { Vec::new() } else { vec![(None, targets)] }
        };
        for (svc, targets) in groups {
            let labels: Vec<(&str, &str)> = svc.map(|s| s.labels().into_iter().collect()).unwrap_or_default();
            let annotations: Vec<(&str, &str)> = svc.map(|s| s.annotations().into_iter().collect()).unwrap_or_default();
            let initial = svc.map_or(own.as_str(), |s| s.id.name.as_str());
            let tags = Tags { labels: &labels, annotations: Some(&annotations) };
            let service = svc.map(|s| (s.id.name.as_str(), tags));
            for ep in &endpoints {
                let job_of = |w: Option<usize>| {
                    let pod = w.map(|w| &model.workloads[w]);
                    discovery::monitor_target_job(&ep.rename, initial, &ns, service, pod)
                };
                if !ep.rename.reads_pods() || targets.is_empty() {
                    jobs.push(job(job_of(None), ep, targets.clone(), true, svc));
                    continue;
                }
                let mut named: BTreeMap<Option<String>, BTreeSet<usize>> = BTreeMap::new();
                for &w in &targets {
                    named.entry(job_of(Some(w))).or_default().insert(w);
                }
                jobs.extend(named.into_iter().map(|(name, targets)| job(name, ep, targets, true, svc)));
            }
        }
    }
    if jobs.is_empty() {
        // Services the render does not hold (kubelet, apiserver): named as the operator would
        // name the Service the selector picks, taken to be labelled as it selects and named as
        // the monitor.
        let labels: Vec<(&str, &str)> = target_sel.iter().map(|(k, v)| (*k, *v)).collect();
        let tags = Tags { labels: &labels, annotations: None };
        let service = service_monitor.then_some((mon.id.name.as_str(), tags));
        let initial = if service_monitor { mon.id.name.as_str() } else { own.as_str() };
        for ep in &endpoints {
            let name = discovery::monitor_target_job(&ep.rename, initial, mon.namespace(), service, None);
            jobs.push(job(name, ep, BTreeSet::new(), false, None));
        }
    }
    jobs
}

pub(super) fn raw_jobs(model: &Model<'_>, classes: &[Classification], config: &Value, me: usize) -> Vec<Job> {
    let no_ksm = no_ksm(classes);
    let scrape_configs = items(config, "scrape_configs");
    // Built only if a static target names a Service.
    let by_label = OnceLock::new();
    let every = |v: &Value| interval_of(v.pointer("/scrape_interval").and_then(Value::as_str));
    let global =
        config.get("global").and_then(every).unwrap_or_else(|| interval_or(None, prometheus::DEFAULT_SCRAPE_INTERVAL));
    let job = |sc: &Value| {
        let job = raw_job(model, classes, sc, me, no_ksm, &by_label)?;
        Some(Job { interval: Some(every(sc).unwrap_or(global)), ..job })
    };
    scrape_configs.filter_map(job).collect()
}

/// No kube-state-metrics in the input: one outside it may be what a discovery job finds.
fn no_ksm(classes: &[Classification]) -> bool {
    !classes.iter().any(|c| c.component.as_deref() == Some("kube-state-metrics"))
}

/// The job of one Prometheus scrape config, scraped by the Prometheus workload `me`.
/// `no_ksm`: no kube-state-metrics is in the input.
fn raw_job<'m, 'a>(
    model: &'m Model<'a>,
    classes: &[Classification],
    sc: &Value,
    me: usize,
    no_ksm: bool,
    by_label: &OnceLock<ByLabel<'m, 'a>>,
) -> Option<Job> {
    let own_ns = model.objects[model.workloads[me].object].namespace();
    let name = sc.get("job_name").and_then(Value::as_str)?;
    let relabels = items(sc, "metric_relabel_configs");
    // Its targets' `job` after `relabel_configs`, judged on what holds for every target.
    let rename = JobRename::of(None, items(sc, "relabel_configs").map(Relabel::from_config));
    let renamed = if rename.renames() { rename.job(name, &|_| None) } else { Some(name.to_owned()) };
    let mut job = Job {
        stored: Stored::of(relabels.map(Relabel::from_config)),
        any_name: renamed.is_none(),
        ..Job::new(
            renamed.unwrap_or_else(|| format!("{name} (job relabeled)")),
            BTreeSet::from([TARGET]),
            BTreeSet::new(),
        )
    };
    let path = sc.get("metrics_path").and_then(Value::as_str).unwrap_or_default();
    if name.contains("cadvisor") || path.contains("cadvisor") {
        job.sources.insert(CADVISOR);
    }
    if let Some(discovery) = Discovery::of(sc) {
        job.targets.extend(discovery.targets(model, own_ns).into_iter().flatten());
        if no_ksm && discovery.may_find_unseen_ksm() {
            job.sources.insert(KSM);
        }
    }
    // Static targets and DNS names: itself, or a Service of the input (`kubecost-cost-analyzer.
    // kubecost:9003`, OpenCost's documented `dns_sd_configs` name `opencost.opencost`), whose
    // workloads the job then scrapes.
    let list = |key: &str, field: &str| -> Vec<&str> {
        let values = items(sc, key).flat_map(|c| items(c, field));
        values.filter_map(Value::as_str).collect()
    };
    for name in list("static_configs", "targets").into_iter().chain(list("dns_sd_configs", "names")) {
        if name.starts_with("localhost:") || name.starts_with("127.0.0.1:") {
            job.targets.insert(me);
            continue;
        }
        job.targets.extend(service_workloads(model, by_label, srv_stripped(name), own_ns));
    }
    sources_of(model, classes, &mut job);
    Some(job)
}

/// A prometheus-operator ScrapeConfig as the scrape config the operator writes for it: static
/// targets, DNS names and Kubernetes discovery (roles `Pod`, `Endpoints`... lowercased), its
/// relabelings and metric relabelings. Other discovery mechanisms find nothing of the input.
fn scrape_config_of(o: &Object<'_>, job_name: &str) -> Value {
    let spec = o.node.get("spec").map(Node::to_json).unwrap_or(Value::Null);
    let lower = |v: Option<&Value>| Value::from(v.and_then(Value::as_str).unwrap_or_default().to_lowercase());
    let kubernetes: Vec<Value> = items(&spec, "kubernetesSDConfigs")
        .map(|k| {
            let selectors: Vec<Value> = items(k, "selectors")
                .map(|s| json!({ "role": lower(s.get("role")), "label": s.get("label"), "field": s.get("field") }))
                .collect();
            let ns = k.get("namespaces");
            let namespaces = json!({
                "names": ns.and_then(|n| n.get("names")),
                "own_namespace": ns.and_then(|n| n.get("ownNamespace")),
            });
            json!({ "role": lower(k.get("role")), "namespaces": namespaces, "selectors": selectors })
        })
        .collect();
    let relabels = |key: &str| -> Vec<Value> {
        items(&spec, key)
            .map(|r| {
                let field = |k: &str| r.get(k).cloned().unwrap_or(Value::Null);
                json!({
                    "source_labels": field("sourceLabels"),
                    "separator": field("separator"),
                    "regex": field("regex"),
                    "action": field("action"),
                    "target_label": field("targetLabel"),
                })
            })
            .collect()
    };
    json!({
        "job_name": job_name,
        "metrics_path": spec.get("metricsPath"),
        "static_configs": spec.get("staticConfigs"),
        "dns_sd_configs": spec.get("dnsSDConfigs"),
        "kubernetes_sd_configs": kubernetes,
        "relabel_configs": relabels("relabelings"),
        "metric_relabel_configs": relabels("metricRelabelings"),
    })
}

/// The workloads behind the Service a target address or URL names (`name.ns:port`,
/// `http://name.ns.svc:9003/path`; a bare name is in `own_ns`): none when it names no Service of
/// the input.
fn service_workloads<'m, 'a>(
    model: &'m Model<'a>,
    by_label: &OnceLock<ByLabel<'m, 'a>>,
    address: &str,
    own_ns: &str,
) -> BTreeSet<usize> {
    let Some((svc, ns)) = service_of_url(address) else { return BTreeSet::new() };
    let ns = ns.unwrap_or(own_ns);
    let Some(service) = model.core_object("Service", ns, svc) else { return BTreeSet::new() };
    let selector = string_map(service.node.path(&["spec", "selector"]));
    by_label.get_or_init(|| ByLabel::new(model)).workloads(model, ns, &selector)
}

/// The items of an array under `key`: none when it is missing or not an array.
fn items<'v>(v: &'v Value, key: &str) -> impl Iterator<Item = &'v Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

/// An SRV name (`_http._tcp.name.ns.svc`) without its two leading labels; any other name as it is.
fn srv_stripped(name: &str) -> &str {
    match name.strip_prefix('_').and_then(|r| r.split_once("._")).and_then(|(_, r)| r.split_once('.')) {
        Some((_, rest)) => rest,
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_jobs_expose_what_either_exposes() {
        let partial = |names: &[&'static str]| Job {
            ksm_emits: Some(names.iter().copied().collect()),
            ..Job::new("kubecost".into(), BTreeSet::from([KSM]), BTreeSet::new())
        };
        let mut a = partial(&["kube_pod_labels"]);
        a.absorb(partial(&["kube_job_status_failed"]));
        assert!(a.exposes(KSM, "kube_pod_labels") && a.exposes(KSM, "kube_job_status_failed"));
        assert!(!a.exposes(KSM, "kube_pod_container_status_waiting_reason"), "two partial jobs stay partial");
        a.absorb(Job::new("kubecost".into(), BTreeSet::from([KSM]), BTreeSet::new()));
        assert!(a.exposes(KSM, "kube_pod_container_status_waiting_reason"), "a real kube-state-metrics");
        let mut b = Job::new("kubecost".into(), BTreeSet::from([TARGET]), BTreeSet::new());
        b.absorb(partial(&["kube_pod_labels"]));
        assert!(b.exposes(KSM, "kube_pod_labels") && !b.exposes(KSM, "kube_pod_status_ready"));
    }

    #[test]
    fn cadvisor_series_stay_only_as_the_cadvisor_endpoints_keep_them() {
        let drop = |metric: &str| {
            let rule = serde_json::json!([{"action": "drop", "source_labels": ["__name__"], "regex": metric}]);
            Stored::of(rule.as_array().unwrap().iter().map(Relabel::from_config))
        };
        let endpoint = |sources: &[&'static str], stored: Stored| Job {
            stored,
            ..Job::new("kubelet".into(), sources.iter().copied().collect(), BTreeSet::new())
        };
        let working_set = "container_memory_working_set_bytes";
        // /metrics keeps everything it has; /metrics/cadvisor drops the working set.
        let mut kubelet = endpoint(&[TARGET], Stored::All);
        kubelet.absorb(endpoint(&[TARGET, CADVISOR], drop(working_set)));
        assert!(!kubelet.stores(CADVISOR, working_set), "the cAdvisor endpoint decides");
        assert!(kubelet.stores(CADVISOR, "container_cpu_usage_seconds_total"));
        assert!(kubelet.stores(TARGET, working_set), "other sources: any endpoint");
        // The order of the endpoints does not matter, nor a third one.
        let mut other_way = endpoint(&[TARGET, CADVISOR], drop(working_set));
        other_way.absorb(endpoint(&[TARGET], Stored::All));
        other_way.absorb(endpoint(&[TARGET], drop("kubelet_.*")));
        assert!(!other_way.stores(CADVISOR, working_set));
        // Two cAdvisor endpoints: either one keeping the series keeps it.
        other_way.absorb(endpoint(&[CADVISOR], Stored::All));
        assert!(other_way.stores(CADVISOR, working_set));
    }

    #[test]
    fn srv_names_name_their_service() {
        assert_eq!(srv_stripped("_http._tcp.opencost.opencost.svc"), "opencost.opencost.svc");
        assert_eq!(srv_stripped("opencost.opencost"), "opencost.opencost");
        assert_eq!(srv_stripped("_odd"), "_odd");
    }

    #[test]
    fn job_lookups_agree_with_a_pass_over_every_job() {
        let names =
            ["kube-state-metrics", "kube-state-metrics-v2", "node-exporter", "payments-1", "payments-10", "web"];
        let jobs: Vec<Job> = names.iter().map(|n| Job::new((*n).into(), BTreeSet::new(), BTreeSet::new())).collect();
        let index = JobIndex::new(&jobs);
        for m in [
            r#"{job="node-exporter"}"#,
            r#"{job="missing"}"#,
            r#"{job=~"kube-.*"}"#,
            r#"{job=~"payments-1.*", job!="payments-10"}"#,
            r#"{job=~".*-v2|web"}"#,
            r#"{job=~"(?i)KUBE.*"}"#,
            r#"{job!~"kube.*"}"#,
            r#"{job=~"a{"}"#,
            r#"{instance="x"}"#,
        ] {
            let q = crate::coverage::promql::parse(&format!("up{m}")).unwrap();
            let sel = &q.selectors[0];
            let every: Vec<usize> = (0..jobs.len()).filter(|&i| sel.admits("job", &jobs[i].name)).collect();
            assert_eq!(index.admitted(sel).to_vec(), every, "{m}");
            assert_eq!(index.admitted(sel).to_vec(), every, "{m}, judged again");
        }
    }
}
