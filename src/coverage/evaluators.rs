//! Who evaluates which alert rules, what each evaluator scrapes (as which `job`), and whether it
//! can notify: prometheus-operator `Prometheus` objects, raw Prometheus servers, evaluators the
//! config declares, and an unknown one when the evaluator is not in the input.

use foldhash::{HashMap, HashMapExt};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::OnceLock;

use serde_json::Value;

use super::discovery;
use super::notify::{self, AlertmanagerConfig};
use super::promql::{LabelMatcher, Op, Selector};
use super::relabel::{Relabel, Stored};
use super::rules::{AlertRule, Origin, Record};
use crate::classify::Classification;
use crate::config::Config;
use crate::input::Node;
use crate::model::references::{selects, service_of_url};
use crate::model::{Model, Object, prometheus, string_map};

pub const KSM: &str = "kube-state-metrics";
pub const CADVISOR: &str = "cadvisor";
pub const TARGET: &str = "target";

#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub sources: BTreeSet<&'static str>,
    pub ksm_major: Option<u32>,
    /// Workloads scraped under this job (for `up`).
    pub targets: BTreeSet<usize>,
    /// The metric names its metric relabelings let through.
    pub stored: Stored,
}

impl Job {
    fn new(name: String, sources: BTreeSet<&'static str>, targets: BTreeSet<usize>) -> Job {
        Job { name, sources, ksm_major: None, targets, stored: Stored::All }
    }
}

#[derive(Debug, Clone)]
pub enum Notify {
    /// Alerts go to each of these Alertmanager configs (one or more).
    Config(Vec<AlertmanagerConfig>),
    /// An Alertmanager is configured whose config is not in the input: assumed to notify.
    Assumed,
    /// No Alertmanager at all.
    Nowhere(String),
}

#[derive(Debug, Clone)]
pub struct Evaluator {
    /// `namespace/name`, or a name for external and unknown evaluators.
    pub id: String,
    pub object: Option<usize>,
    /// The workload this evaluator runs as (for self-monitoring).
    pub workload: Option<usize>,
    /// None when not known (the evaluator is not in the input).
    pub jobs: Option<Vec<Job>>,
    /// The alert rules it loads, by index.
    pub rules: Vec<usize>,
    /// The recording rules it loads, by index: the series its alerts can read besides scraped ones.
    pub records: Vec<usize>,
    pub notify: Notify,
}

impl Evaluator {
    /// `judge` of each rule this evaluator loads, on all cores: a monorepo's Prometheus loads
    /// hundreds of thousands. Each chunk of rules has its own `JobIndex` (None when the scrape jobs
    /// are not known), whose cache of regex verdicts is not shared; verdicts come in rule order.
    pub fn judge_rules<T: Send>(&self, judge: impl Fn(usize, Option<&JobIndex>) -> Option<T> + Sync) -> Vec<T> {
        use rayon::prelude::*;
        let chunk = self.rules.len().div_ceil(rayon::current_num_threads()).max(1024);
        let per_chunk: Vec<Vec<T>> = self
            .rules
            .par_chunks(chunk)
            .map(|rules| {
                let index = self.jobs.as_deref().map(JobIndex::new);
                rules.iter().filter_map(|&ri| judge(ri, index.as_ref())).collect()
            })
            .collect();
        // Moved once into room made for all of them, not through a vector that grows.
        let mut out = Vec::with_capacity(per_chunk.iter().map(Vec::len).sum());
        per_chunk.into_iter().for_each(|mut c| out.append(&mut c));
        out
    }
}

/// A selector's `job` matchers other than `=`: operator (1 `!=`, 2 `=~`, 3 `!~`) and value.
type JobMatchers = Vec<(u8, String)>;

/// An evaluator's scrape jobs as selectors look them up: by name for `job="x"`, and once per
/// distinct set of other `job` matchers (thousands of rules share a few, and a monorepo's
/// Prometheus scrapes thousands of jobs).
pub struct JobIndex<'e> {
    pub jobs: &'e [Job],
    by_name: HashMap<&'e str, usize>,
    /// Job names in order, each with its index in `jobs`.
    sorted: Vec<(&'e str, usize)>,
    judged: RefCell<HashMap<JobMatchers, Rc<[usize]>>>,
}

impl<'e> JobIndex<'e> {
    pub fn new(jobs: &'e [Job]) -> JobIndex<'e> {
        let mut by_name = HashMap::with_capacity(jobs.len());
        for (i, j) in jobs.iter().enumerate() {
            by_name.entry(j.name.as_str()).or_insert(i);
        }
        let mut sorted: Vec<(&str, usize)> = jobs.iter().enumerate().map(|(i, j)| (j.name.as_str(), i)).collect();
        sorted.sort_unstable();
        JobIndex { jobs, by_name, sorted, judged: RefCell::default() }
    }

    /// Indices into `jobs` of the jobs `sel`'s `job` matchers admit: all of them when it has none.
    pub fn admitted(&self, sel: &Selector) -> Rc<[usize]> {
        let matchers: Vec<&LabelMatcher> = sel.matchers.iter().filter(|m| m.name == "job").collect();
        if let Some(eq) = matchers.iter().find(|m| matches!(m.op, Op::Equal)) {
            let named = self.by_name.get(eq.value.as_str()).filter(|_| sel.admits("job", &eq.value));
            return named.copied().into_iter().collect();
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
        let found: Rc<[usize]> =
            self.candidates(&matchers).filter(|&i| sel.admits("job", &self.jobs[i].name)).collect();
        self.judged.borrow_mut().insert(key, found.clone());
        found
    }

    /// `count` job names in alphabetical order around where `name` would stand (all of them when
    /// there are no more): the ones that share most of its beginning.
    pub fn names_near(&self, name: &str, count: usize) -> Vec<&'e str> {
        let at = self.sorted.partition_point(|(n, _)| *n < name);
        let start = at.saturating_sub(count / 2).min(self.sorted.len().saturating_sub(count));
        self.sorted[start..].iter().take(count).map(|&(n, _)| n).collect()
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

/// `null` selects nothing or (for namespaces) the own namespace; `{}` everything.
fn label_selector_matches(sel: &Node, labels: &BTreeMap<&str, &str>) -> bool {
    let ml = string_map(sel.get("matchLabels"));
    if !ml.iter().all(|(k, v)| labels.get(k) == Some(v)) {
        return false;
    }
    sel.get("matchExpressions").and_then(Node::as_seq).unwrap_or_default().iter().all(|e| {
        let key = e.str_at(&["key"]).unwrap_or_default();
        let values: Vec<&str> =
            e.get("values").and_then(Node::as_seq).unwrap_or_default().iter().filter_map(Node::as_str).collect();
        match e.str_at(&["operator"]).unwrap_or_default() {
            "In" => labels.get(key).is_some_and(|v| values.contains(v)),
            "NotIn" => labels.get(key).is_none_or(|v| !values.contains(v)),
            "Exists" => labels.contains_key(key),
            "DoesNotExist" => !labels.contains_key(key),
            _ => false,
        }
    })
}

/// Namespace selection: namespaces' labels come from Namespace objects in the input plus the
/// automatic `kubernetes.io/metadata.name`; a selector on labels we cannot see is assumed to match.
pub(super) fn namespace_selected(model: &Model<'_>, sel: Option<&Node>, own_ns: &str, ns: &str) -> bool {
    match sel {
        None => ns == own_ns,
        Some(s) if s.is_null() => ns == own_ns,
        Some(s) => {
            let obj = model.core_object("Namespace", "", ns);
            let mut labels = obj.map(|o| o.labels()).unwrap_or_default();
            labels.insert("kubernetes.io/metadata.name", ns);
            if obj.is_none() {
                let keys: Vec<&str> = string_map(s.get("matchLabels")).keys().copied().collect();
                if keys.iter().any(|k| *k != "kubernetes.io/metadata.name") {
                    return true;
                }
            }
            label_selector_matches(s, &labels)
        }
    }
}

pub(super) fn object_selected(sel: Option<&Node>, labels: &BTreeMap<&str, &str>) -> bool {
    match sel {
        None => false,
        Some(s) if s.is_null() => false,
        Some(s) => label_selector_matches(s, labels),
    }
}

/// Whether a prometheus-operator `Prometheus` or `ThanosRuler` loads a PrometheusRule
/// (ruleSelector and ruleNamespaceSelector, with the operator's null and `{}` semantics).
fn operator_selects(model: &Model<'_>, p: &Object<'_>, rule: &Object<'_>) -> bool {
    let spec = p.node.get("spec");
    object_selected(spec.and_then(|s| s.get("ruleSelector")), &rule.labels())
        && namespace_selected(model, spec.and_then(|s| s.get("ruleNamespaceSelector")), p.namespace(), rule.namespace())
}

/// The labels a PrometheusRule lacks for this selector's `matchLabels`.
pub fn missing_labels(sel: Option<&Node>, labels: &BTreeMap<&str, &str>) -> Vec<String> {
    let Some(s) = sel else { return vec!["(ruleSelector is null: selects nothing)".into()] };
    string_map(s.get("matchLabels"))
        .into_iter()
        .filter(|(k, v)| labels.get(k) != Some(v))
        .map(|(k, v)| format!("{k}: {v}"))
        .collect()
}

fn ksm_major(model: &Model<'_>, w: usize) -> Option<u32> {
    model.workloads[w].running().find_map(|c| c.spec.image.as_deref().and_then(prometheus::major_version))
}

/// What a job's targets add to its sources: kube-state-metrics among them makes it a KSM job.
fn sources_of(model: &Model<'_>, classes: &[Classification], job: &mut Job) {
    for &t in &job.targets {
        if classes[t].component.as_deref() == Some("kube-state-metrics") {
            job.sources.insert(KSM);
            job.ksm_major = job.ksm_major.or_else(|| ksm_major(model, t));
        }
    }
}

/// Services by namespace and each of their labels, workloads by namespace and each of their pod
/// labels: the first pair of a selector narrows its candidates to those that carry it, so that
/// thousands of monitors in one namespace do not each pass over all its Services and workloads.
struct ByLabel<'m, 'a> {
    services: HashMap<(&'m str, &'a str, &'a str), Vec<&'m Object<'a>>>,
    workloads: HashMap<(&'m str, &'a str, &'a str), Vec<usize>>,
}

impl<'m, 'a> ByLabel<'m, 'a> {
    fn new(model: &'m Model<'a>) -> ByLabel<'m, 'a> {
        // The two indexes are independent: built side by side.
        let (services, workloads) = rayon::join(
            || {
                let mut services: HashMap<_, Vec<_>> = HashMap::new();
                for svc in model.objects.iter().filter(|o| o.is("", "Service")) {
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

fn operator_jobs(model: &Model<'_>, classes: &[Classification], p: &Object<'_>) -> Vec<Job> {
    let spec = p.node.get("spec");
    let own = p.namespace();
    let mut jobs: Vec<Job> = Vec::new();
    let by_label = ByLabel::new(model);
    // Jobs by name: a monorepo's Prometheus has thousands of monitors.
    let mut named: HashMap<String, usize> = HashMap::new();
    let mut add = |job: Job| match named.get(&job.name) {
        Some(&at) => {
            let j = &mut jobs[at];
            j.sources.extend(job.sources);
            j.targets.extend(job.targets);
            j.ksm_major = j.ksm_major.or(job.ksm_major);
            j.stored.merge(&job.stored);
        }
        None => {
            named.insert(job.name.clone(), jobs.len());
            jobs.push(job);
        }
    };
    let all_namespaces = OnceLock::new();
    // The objects of a kind this Prometheus's selector pair picks.
    let selected = |kind: &str, sel_key: &str, ns_key: &str| -> Vec<&Object> {
        let sel = spec.and_then(|s| s.get(sel_key));
        let ns_sel = spec.and_then(|s| s.get(ns_key));
        model
            .objects
            .iter()
            .filter(|o| o.is("monitoring.coreos.com", kind))
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
            .map(|mon| monitor_jobs(model, classes, &by_label, &all_namespaces, kind, mon))
            .collect();
        per_monitor.into_iter().flatten().for_each(&mut add);
    }
    // A ScrapeConfig or a Probe is one job, labelled `spec.jobName` or the operator's own name for
    // it. What it scrapes (static targets, service discovery, probed URLs) is not told by the
    // objects of the input, so the job gives no workload's signals; it only exists.
    for (kind, sel_key, ns_key, prefix) in [
        ("ScrapeConfig", "scrapeConfigSelector", "scrapeConfigNamespaceSelector", "scrapeConfig"),
        ("Probe", "probeSelector", "probeNamespaceSelector", "probe"),
    ] {
        for o in selected(kind, sel_key, ns_key) {
            let name = o.node.str_at(&["spec", "jobName"]).filter(|n| !n.is_empty()).map(str::to_owned);
            let name = name.unwrap_or_else(|| format!("{prefix}/{}/{}", o.namespace(), o.id.name));
            add(Job::new(name, BTreeSet::new(), BTreeSet::new()));
        }
    }
    jobs
}

/// The scrape jobs one selected ServiceMonitor or PodMonitor gives its Prometheus.
fn monitor_jobs(
    model: &Model<'_>,
    classes: &[Classification],
    by_label: &ByLabel<'_, '_>,
    all_namespaces: &OnceLock<BTreeSet<String>>,
    kind: &str,
    mon: &Object<'_>,
) -> Vec<Job> {
    let mut jobs = Vec::new();
    let job_label = mon.node.str_at(&["spec", "jobLabel"]);
    let target_sel = string_map(mon.node.path(&["spec", "selector", "matchLabels"]));
    let endpoints_key = if kind == "ServiceMonitor" { "endpoints" } else { "podMetricsEndpoints" };
    let endpoints = mon.node.path(&["spec", endpoints_key]).and_then(Node::as_seq).unwrap_or_default();
    let cadvisor = endpoints.iter().any(|e| e.str_at(&["path"]).is_some_and(|p| p.contains("cadvisor")));
    // Every endpoint is scraped under the monitor's job: the job stores what any of them keeps.
    let mut stored: Option<Stored> = None;
    for e in endpoints {
        let relabels = e.get("metricRelabelings").and_then(Node::as_seq).unwrap_or_default();
        let one = Stored::of(relabels.iter().map(Relabel::from_monitor));
        match &mut stored {
            Some(s) => s.merge(&one),
            None => stored = Some(one),
        }
    }
    let stored = stored.unwrap_or_default();
    for ns in monitor_namespaces(model, mon, all_namespaces) {
        if kind == "ServiceMonitor" {
            for svc in by_label.services(&ns, &target_sel) {
                let name = job_label
                    .and_then(|l| svc.labels().get(l).map(|v| v.to_string()))
                    .unwrap_or_else(|| svc.id.name.clone());
                let targets = by_label.workloads(model, &ns, &string_map(svc.node.path(&["spec", "selector"])));
                let mut job = Job { stored: stored.clone(), ..Job::new(name, BTreeSet::from([TARGET]), targets) };
                if cadvisor {
                    job.sources.insert(CADVISOR);
                }
                sources_of(model, classes, &mut job);
                jobs.push(job);
            }
        } else {
            let targets = by_label.workloads(model, &ns, &target_sel);
            if targets.is_empty() {
                continue;
            }
            let name = format!("{}/{}", mon.namespace(), mon.id.name);
            let mut job = Job { stored: stored.clone(), ..Job::new(name, BTreeSet::from([TARGET]), targets) };
            sources_of(model, classes, &mut job);
            jobs.push(job);
        }
    }
    if jobs.is_empty() {
        // Services the render does not hold (kubelet, apiserver): the job comes from the selector.
        let name =
            job_label.and_then(|l| target_sel.get(l).map(|v| v.to_string())).unwrap_or_else(|| mon.id.name.clone());
        let mut job = Job { stored, ..Job::new(name, BTreeSet::new(), BTreeSet::new()) };
        if cadvisor {
            job.sources.insert(CADVISOR);
        }
        jobs.push(job);
    }
    jobs
}

fn raw_jobs(model: &Model<'_>, classes: &[Classification], config: &Value, me: usize) -> Vec<Job> {
    let no_ksm = !classes.iter().any(|c| c.component.as_deref() == Some("kube-state-metrics"));
    let own_ns = model.objects[model.workloads[me].object].namespace();
    let mut jobs = Vec::new();
    for sc in config.get("scrape_configs").and_then(Value::as_array).into_iter().flatten() {
        let Some(name) = sc.get("job_name").and_then(Value::as_str) else { continue };
        let relabels = sc.get("metric_relabel_configs").and_then(Value::as_array).into_iter().flatten();
        let mut job = Job {
            stored: Stored::of(relabels.map(Relabel::from_config)),
            ..Job::new(name.to_owned(), BTreeSet::from([TARGET]), BTreeSet::new())
        };
        let path = sc.get("metrics_path").and_then(Value::as_str).unwrap_or_default();
        if name.contains("cadvisor") || path.contains("cadvisor") {
            job.sources.insert(CADVISOR);
        }
        if let Some(found) = discovery::targets(model, sc, own_ns) {
            job.targets.extend(found);
            // A kube-state-metrics outside the input may be among what it discovers.
            if no_ksm {
                job.sources.insert(KSM);
            }
        }
        // Static targets and DNS names: itself, or a Service of the input (`kubecost-cost-analyzer.
        // kubecost:9003`, OpenCost's documented `dns_sd_configs` name `opencost.opencost`), whose
        // workloads the job then scrapes.
        let list = |key: &str, field: &str| -> Vec<&str> {
            let configs = sc.get(key).and_then(Value::as_array).into_iter().flatten();
            let values = configs.flat_map(|c| c.get(field).and_then(Value::as_array).into_iter().flatten());
            values.filter_map(Value::as_str).collect()
        };
        for name in list("static_configs", "targets").into_iter().chain(list("dns_sd_configs", "names")) {
            if name.starts_with("localhost:") || name.starts_with("127.0.0.1:") {
                job.targets.insert(me);
                continue;
            }
            let Some((svc, ns)) = service_of_url(srv_stripped(name)) else { continue };
            let ns = ns.unwrap_or(own_ns);
            let Some(service) = model.core_object("Service", ns, svc) else { continue };
            let selector = string_map(service.node.path(&["spec", "selector"]));
            job.targets.extend(model.workloads.iter().enumerate().filter_map(|(i, w)| {
                (model.objects[w.object].namespace() == ns && selects(&selector, &w.pod_labels)).then_some(i)
            }));
        }
        sources_of(model, classes, &mut job);
        jobs.push(job);
    }
    jobs
}

/// An SRV name (`_http._tcp.name.ns.svc`) without its two leading labels; any other name as it is.
fn srv_stripped(name: &str) -> &str {
    match name.strip_prefix('_').and_then(|r| r.split_once("._")).and_then(|(_, r)| r.split_once('.')) {
        Some((_, rest)) => rest,
        None => name,
    }
}

/// The alert and recording rules an evaluator loads, by index, each list in input order.
#[derive(Default)]
struct Loaded {
    rules: Vec<usize>,
    records: Vec<usize>,
}

/// Where each alert rule and each recording rule of the input stands.
struct Origins<'r> {
    rules: Vec<&'r Origin>,
    records: Vec<&'r Origin>,
}

impl Origins<'_> {
    /// The rules and records whose origin `loads`.
    fn loaded(&self, mut loads: impl FnMut(&Origin) -> bool) -> Loaded {
        let mut pick =
            |origins: &[&Origin]| origins.iter().enumerate().filter(|(_, o)| loads(o)).map(|(i, _)| i).collect();
        Loaded { rules: pick(&self.rules), records: pick(&self.records) }
    }

    /// Those held by PrometheusRule objects that `selects` (by object index): judged once per
    /// object, not once per rule (an object holds hundreds).
    fn selected(&self, mut selects: impl FnMut(usize) -> bool) -> Loaded {
        let mut judged: HashMap<usize, bool> = HashMap::new();
        self.loaded(|o| matches!(*o, Origin::PrometheusRule(i) if *judged.entry(i).or_insert_with(|| selects(i))))
    }
}

/// Rule files listed in `rule_files`, followed through mounts to ConfigMap keys.
fn raw_rules(model: &Model<'_>, w: usize, config: &Value, origins: &Origins<'_>) -> Loaded {
    let wl = &model.workloads[w];
    let mut out = Loaded::default();
    let Some(c) = wl.running().next() else { return out };
    for path in config.get("rule_files").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        let Some(mount) = prometheus::mount_for(c, path) else { continue };
        let Some(vol) = mount.str_at(&["name"]).and_then(|n| wl.volume(n)) else { continue };
        let Some(cm_name) = vol.1.config_map.as_ref().map(|c| c.name.clone()) else { continue };
        let mount_path = mount.str_at(&["mountPath"]).unwrap_or_default().trim_end_matches('/');
        let file = path.strip_prefix(mount_path).unwrap_or(path).trim_start_matches('/');
        let glob = globset::Glob::new(file).ok().map(|g| g.compile_matcher());
        let ns = model.objects[wl.object].namespace();
        let found = origins.loaded(|origin| {
            let Origin::ConfigMap { object, key } = origin else { return false };
            let o = &model.objects[*object];
            o.id.name == cm_name
                && o.namespace() == ns
                && (key == file || glob.as_ref().is_some_and(|g| g.is_match(key)))
        });
        out.rules.extend(found.rules);
        out.records.extend(found.records);
    }
    out
}

pub struct Found {
    pub evaluators: Vec<Evaluator>,
    /// PrometheusRules no evaluator selects, with the labels each operator Prometheus wants.
    pub unselected: Vec<(usize, Vec<String>)>,
    /// Rules treated as loaded by an evaluator that is not in the input.
    pub unknown_loaded: bool,
}

pub fn find(
    model: &Model<'_>,
    classes: &[Classification],
    config: &Config,
    rules: &[AlertRule],
    records: &[Record],
    assume_loaded: bool,
) -> Found {
    let origins = Origins {
        rules: rules.iter().map(|r| &r.origin).collect(),
        records: records.iter().map(|r| &r.origin).collect(),
    };
    let mut evaluators = Vec::new();
    for (wi, w) in model.workloads.iter().enumerate() {
        let o = &model.objects[w.object];
        if w.operator_prometheus {
            let spec = o.node.get("spec");
            let selected = origins.selected(|i| operator_selects(model, o, &model.objects[i]));
            let ams =
                spec.and_then(|s| s.path(&["alerting", "alertmanagers"])).and_then(Node::as_seq).unwrap_or_default();
            // Alerts go to every Alertmanager listed, and to those of a Secret of extra
            // Alertmanager configs (additionalAlertManagerConfigs), which is not read: assumed to notify.
            let extra = spec.and_then(|s| s.get("additionalAlertManagerConfigs")).is_some_and(|n| !n.is_null());
            let configs: Option<Vec<AlertmanagerConfig>> = ams
                .iter()
                .map(|am| {
                    let ns = am.str_at(&["namespace"]).unwrap_or(o.namespace());
                    notify::operator_config(model, ns, am.str_at(&["name"]).unwrap_or_default())
                })
                .collect();
            let notify = match configs {
                _ if extra => Notify::Assumed,
                _ if ams.is_empty() => {
                    Notify::Nowhere(format!("Prometheus {} has no spec.alerting.alertmanagers", o.id.name))
                }
                Some(configs) => Notify::Config(configs),
                None => Notify::Assumed,
            };
            // Scrape configs kept in a Secret (additionalScrapeConfigs) add jobs that are not read
            // here (a Secret's values are neither read nor shown): the scrape jobs are not known.
            let secret_jobs = spec.and_then(|s| s.get("additionalScrapeConfigs")).is_some_and(|n| !n.is_null());
            evaluators.push(Evaluator {
                id: format!("{}/{}", o.namespace(), o.id.name),
                object: Some(w.object),
                workload: Some(wi),
                jobs: (!secret_jobs).then(|| operator_jobs(model, classes, o)),
                rules: selected.rules,
                records: selected.records,
                notify,
            });
        } else if classes[wi].profile.as_deref() == Some("prometheus-server") {
            let Some(c) = classes[wi].primary.as_deref().and_then(|p| w.container(p)).or_else(|| w.running().next())
            else {
                continue;
            };
            let Some(cfg) = prometheus::config_file(model, w, c) else { continue };
            let loaded = raw_rules(model, wi, &cfg.value, &origins);
            let notify = if has_alertmanagers(&cfg.value) {
                notify::configmap_config(model, o.namespace())
                    .map(|c| Notify::Config(vec![c]))
                    .unwrap_or(Notify::Assumed)
            } else {
                Notify::Nowhere(format!("prometheus.yml of {} has no alerting.alertmanagers", o.id.name))
            };
            evaluators.push(Evaluator {
                id: format!("{}/{}", o.namespace(), o.id.name),
                object: Some(w.object),
                workload: Some(wi),
                jobs: Some(raw_jobs(model, classes, &cfg.value, wi)),
                rules: loaded.rules,
                records: loaded.records,
                notify,
            });
        }
    }
    // A ThanosRuler loads the PrometheusRules it selects as a Prometheus does, but queries through
    // Thanos Query: the stores behind the query, and so the scrape jobs its rules see, are not in
    // the input, and its rules are judged against none.
    let thanos_rulers: Vec<(usize, &Object)> =
        model.objects.iter().enumerate().filter(|(_, o)| o.is("monitoring.coreos.com", "ThanosRuler")).collect();
    for &(oi, o) in &thanos_rulers {
        let spec = o.node.get("spec");
        let given = |key| {
            spec.and_then(|s| s.get(key)).is_some_and(|n| !n.is_null() && n.as_seq().is_none_or(|s| !s.is_empty()))
        };
        let notify = if given("alertmanagersConfig") || given("alertmanagersUrl") {
            Notify::Assumed
        } else {
            Notify::Nowhere(format!(
                "ThanosRuler {} has neither spec.alertmanagersUrl nor spec.alertmanagersConfig",
                o.id.name
            ))
        };
        let selected = origins.selected(|i| operator_selects(model, o, &model.objects[i]));
        evaluators.push(Evaluator {
            id: format!("ThanosRuler {}/{}", o.namespace(), o.id.name),
            object: Some(oi),
            workload: None,
            jobs: None,
            rules: selected.rules,
            records: selected.records,
            notify,
        });
    }
    for ext in &config.alerting.external {
        let selector: BTreeMap<&str, &str> = ext.rule_selector.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let ns_selector: BTreeMap<&str, &str> =
            ext.rule_namespace_selector.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let selected = origins.selected(|i| {
            let ro = &model.objects[i];
            let labels = ro.labels();
            selector.iter().all(|(k, v)| labels.get(k) == Some(v))
                && ns_selector.get("kubernetes.io/metadata.name").is_none_or(|n| *n == ro.namespace())
        });
        let all: BTreeSet<usize> = (0..model.workloads.len()).collect();
        let jobs = ext
            .jobs
            .iter()
            .map(|j| Job::new(j.clone(), BTreeSet::from([KSM, CADVISOR, TARGET]), all.clone()))
            .collect();
        evaluators.push(Evaluator {
            id: ext.name.clone(),
            object: None,
            workload: None,
            jobs: Some(jobs),
            rules: selected.rules,
            records: selected.records,
            notify: Notify::Assumed,
        });
    }
    // Rules that nothing in the input evaluates.
    let mut loaded = vec![false; rules.len()];
    let mut recorded = vec![false; records.len()];
    // PrometheusRule objects by index, those at least one evaluator loads a rule of.
    let mut held = vec![false; model.objects.len()];
    for e in &evaluators {
        for &i in &e.rules {
            loaded[i] = true;
            if let Origin::PrometheusRule(o) = rules[i].origin {
                held[o] = true;
            }
        }
        for &i in &e.records {
            recorded[i] = true;
            if let Origin::PrometheusRule(o) = records[i].origin {
                held[o] = true;
            }
        }
    }
    // A ThanosRuler queries through Thanos Query, which also reads what the input's Prometheus
    // servers record.
    let everywhere: Vec<usize> = (0..records.len()).filter(|&i| recorded[i]).collect();
    for e in evaluators.iter_mut().filter(|e| e.object.is_some_and(|o| thanos_rulers.iter().any(|&(t, _)| t == o))) {
        e.records.clone_from(&everywhere);
    }
    // Every object whose ruleSelector could load a PrometheusRule.
    let rule_selectors: Vec<&Object> = model
        .workloads
        .iter()
        .filter(|w| w.operator_prometheus)
        .map(|w| &model.objects[w.object])
        .chain(thanos_rulers.iter().map(|(_, o)| *o))
        .collect();
    let mut unselected = Vec::new();
    let judge_selection = !rule_selectors.is_empty() && !assume_loaded;
    if judge_selection {
        // Every PrometheusRule, recording-only ones included: a recording rule nobody loads feeds nothing.
        for (o, obj) in
            model.objects.iter().enumerate().filter(|(_, o)| o.is("monitoring.coreos.com", "PrometheusRule"))
        {
            let selected_somewhere = held[o] || rule_selectors.iter().any(|p| operator_selects(model, p, obj));
            if !selected_somewhere {
                let labels = obj.labels();
                let mut lacks: Vec<String> = rule_selectors
                    .iter()
                    .flat_map(|p| missing_labels(p.node.path(&["spec", "ruleSelector"]), &labels))
                    .collect();
                lacks.dedup();
                unselected.push((o, lacks));
            }
        }
    }
    // Rules that an evaluator outside the input may load: in rule files, or in PrometheusRules
    // when no Prometheus of the input (or --assume-rules-loaded) decides. Rule files in a
    // ConfigMap that no Prometheus mounts are read by none.
    let outside = |o: &Origin| match o {
        Origin::PrometheusRule(_) => !judge_selection,
        Origin::ConfigMap { .. } => false,
        Origin::File(_) => true,
    };
    let unknown = origins.loaded(|o| outside(o));
    let unknown = Loaded {
        rules: unknown.rules.into_iter().filter(|&i| !loaded[i]).collect(),
        records: unknown.records.into_iter().filter(|&i| !recorded[i]).collect(),
    };
    let unknown_loaded = !unknown.rules.is_empty() && !assume_loaded;
    if !unknown.rules.is_empty() {
        evaluators.push(Evaluator {
            id: "(evaluator not in the input)".into(),
            object: None,
            workload: None,
            jobs: None,
            rules: unknown.rules,
            records: unknown.records,
            notify: Notify::Assumed,
        });
    }
    Found { evaluators, unselected, unknown_loaded }
}

fn has_alertmanagers(config: &Value) -> bool {
    config.pointer("/alerting/alertmanagers").and_then(Value::as_array).is_some_and(|a| !a.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

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
