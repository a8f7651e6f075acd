//! The VictoriaMetrics operator's side of alerting: which VMRules (and converted PrometheusRules)
//! a VMAlert loads; which scrape jobs feed the VMSingle it queries: those of the VMAgents that
//! remote-write to it, from the VMServiceScrapes, VMPodScrapes and VMNodeScrapes they select (and
//! the ServiceMonitors and PodMonitors the operator converts into them, by default); and which
//! VMAlertmanager config its alerts are routed by.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use super::evaluators::{
    Notify, Reach, configs_at, missing_labels as selector_lacks, namespace_selected, notify_if_set,
    raw_alertmanagers_via, secret_yaml,
};
use super::jobs::{self, ByLabel, Job, JobSet};
use super::notify::{self, AlertmanagerConfig};
use super::relabel::{self, JobRename, Relabel, Stored};
use super::rules::{holds_rules, is_vm_sync_config};
use crate::classify::Classification;
use crate::input::Node;
use crate::model::references::{label_selector_matches, service_of_url, workload_at};
use crate::model::{Model, Object, Operated, prometheus};

const GROUP: &str = "operator.victoriametrics.com";

/// A VictoriaMetrics `VMAlert`.
pub fn is_vm_alert(o: &Object<'_>) -> bool {
    o.is(GROUP, "VMAlert")
}

/// The input's `VMAlert`s, with their indices, in input order.
pub fn vm_alerts<'m, 'a>(model: &'m Model<'a>) -> impl Iterator<Item = (usize, &'m Object<'a>)> + 'm {
    model.every(GROUP, "VMAlert")
}

/// The selector pair of `owner` named `sel_key` and `ns_key`, each when given (not absent, not null).
fn selectors<'n>(owner: &Object<'n>, sel_key: &str, ns_key: &str) -> (Option<&'n Node>, Option<&'n Node>) {
    let given = |key| owner.node.path(&["spec", key]).filter(|n| !n.is_null());
    (given(sel_key), given(ns_key))
}

/// Whether `owner` (a VMAlert, a VMAgent) selects `object` by its selector pair. VictoriaMetrics/
/// operator internal/k8stools `VisitSelected`: with neither selector, everything when
/// `selectAllByDefault`, else nothing; an object selector alone selects in the owner's namespace;
/// a namespace selector (`{}`: every namespace) takes every object of its namespaces unless an
/// object selector narrows them. `labels_shown`: the object's labels are those it will have; else
/// they are not judged.
fn visit_selected(
    model: &Model<'_>,
    owner: &Object<'_>,
    (sel_key, ns_key): (&str, &str),
    object: &Object<'_>,
    labels_shown: bool,
) -> bool {
    let (objects, namespaces) = selectors(owner, sel_key, ns_key);
    let in_namespace = match namespaces {
        None if objects.is_none() => {
            return owner.node.path(&["spec", "selectAllByDefault"]).and_then(Node::as_bool) == Some(true);
        }
        None => object.namespace() == owner.namespace(),
        Some(ns) => namespace_selected(model, Some(ns), owner.namespace(), object.namespace()),
    };
    in_namespace && (!labels_shown || objects.is_none_or(|sel| label_selector_matches(sel, &object.labels())))
}

/// Whether a VMAlert loads a VMRule, or a PrometheusRule (the operator converts each into a VMRule
/// with its labels, by default). The VMRules a sync job creates carry labels its config does not
/// show: only their namespace is judged.
pub fn selects_rule(model: &Model<'_>, vmalert: &Object<'_>, rule: &Object<'_>) -> bool {
    let labels_shown = !is_vm_sync_config(&rule.id);
    holds_rules(&rule.id)
        && visit_selected(model, vmalert, ("ruleSelector", "ruleNamespaceSelector"), rule, labels_shown)
}

/// The labels a rule object lacks for a VMAlert: none to name when it has no ruleSelector, or
/// when the labels are not judged (a sync job's VMRules).
pub fn missing_labels(vmalert: &Object<'_>, rule: &Object<'_>) -> Vec<String> {
    match selectors(vmalert, "ruleSelector", "ruleNamespaceSelector") {
        (Some(_), _) if is_vm_sync_config(&rule.id) => Vec::new(),
        (Some(sel), _) => selector_lacks(Some(sel), &rule.labels()),
        (None, Some(_)) => Vec::new(),
        (None, None) => vec![format!(
            "(VMAlert {} selects nothing: no ruleSelector, no ruleNamespaceSelector, selectAllByDefault false)",
            vmalert.id.name
        )],
    }
}

/// What a VMAgent does with a scrape object it selects.
enum Scrape {
    /// Services' or pods' targets, named as prometheus-operator names a monitor's.
    Monitor,
    /// Nodes' kubelets.
    Node,
    /// Static targets, probes, raw scrape configs: not read here.
    Unread,
}

/// The VMAgent selector pair that picks `o`, and what it scrapes, for every kind it selects.
fn scrape_kind(o: &Object<'_>) -> Option<((&'static str, &'static str), Scrape)> {
    let kind = o.id.kind.as_str();
    let vm = o.id.group() == GROUP;
    let prom = o.id.group() == "monitoring.coreos.com";
    Some(match kind {
        "VMServiceScrape" if vm => (("serviceScrapeSelector", "serviceScrapeNamespaceSelector"), Scrape::Monitor),
        "ServiceMonitor" if prom => (("serviceScrapeSelector", "serviceScrapeNamespaceSelector"), Scrape::Monitor),
        "VMPodScrape" if vm => (("podScrapeSelector", "podScrapeNamespaceSelector"), Scrape::Monitor),
        "PodMonitor" if prom => (("podScrapeSelector", "podScrapeNamespaceSelector"), Scrape::Monitor),
        "VMNodeScrape" if vm => (("nodeScrapeSelector", "nodeScrapeNamespaceSelector"), Scrape::Node),
        "VMStaticScrape" if vm => (("staticScrapeSelector", "staticScrapeNamespaceSelector"), Scrape::Unread),
        "VMProbe" if vm => (("probeSelector", "probeNamespaceSelector"), Scrape::Unread),
        "Probe" if prom => (("probeSelector", "probeNamespaceSelector"), Scrape::Unread),
        "VMScrapeConfig" if vm => (("scrapeConfigSelector", "scrapeConfigNamespaceSelector"), Scrape::Unread),
        "ScrapeConfig" if prom => (("scrapeConfigSelector", "scrapeConfigNamespaceSelector"), Scrape::Unread),
        _ => return None,
    })
}

/// Whether `o` tells a prometheus-operator Prometheus or a VMAgent what to scrape: every kind a
/// VMAgent selects, prometheus-operator's included, since its operator converts them.
pub fn is_scrape_object(o: &Object<'_>) -> bool {
    scrape_kind(o).is_some()
}

/// Where a VMAlert's datasource keeps its series: a VMSingle (a workload of the model), or a
/// VMCluster (an object), which it reads through vmselect and which is written through vminsert.
#[derive(Clone, Copy, PartialEq)]
pub enum Store {
    Single(usize),
    Cluster(usize),
}

impl Store {
    /// The store a VMAlert's datasource URL reads (`default_ns`: the VMAlert's namespace), given
    /// the workload that URL reaches, if any.
    pub fn read_at(model: &Model<'_>, url: &str, default_ns: &str, reached: Option<usize>) -> Option<Store> {
        match reached {
            Some(w) if model.workloads[w].operated == Some(Operated::VmSingle) => Some(Store::Single(w)),
            _ => cluster_at(model, url, "vmselect", default_ns).map(Store::Cluster),
        }
    }

    /// Whether a remote write to `url` (from namespace `default_ns`) lands in this store.
    fn written_by(self, model: &Model<'_>, url: &str, default_ns: &str) -> bool {
        match self {
            Store::Single(w) => workload_at(model, url, default_ns) == Some(w),
            Store::Cluster(c) => cluster_at(model, url, "vminsert", default_ns) == Some(c),
        }
    }
}

/// The VMCluster whose `component` Service (`vmselect-<name>`, `vminsert-<name>`) `url` names.
fn cluster_at(model: &Model<'_>, url: &str, component: &str, default_ns: &str) -> Option<usize> {
    let (service, ns) = service_of_url(url)?;
    let name = service.strip_prefix(component)?.strip_prefix('-')?;
    let ns = ns.unwrap_or(default_ns);
    model.every(GROUP, "VMCluster").find(|(_, o)| o.id.name == name && o.namespace() == ns).map(|(i, _)| i)
}

/// Whether `o`'s `spec.<key>[].url` (remote write targets) reaches `store`.
fn writes_to(model: &Model<'_>, o: &Object<'_>, key: &str, store: Store) -> bool {
    let targets = o.node.path(&["spec", key]).and_then(Node::as_seq).unwrap_or_default();
    targets.iter().filter_map(|t| t.str_at(&["url"])).any(|url| store.written_by(model, url, o.namespace()))
}

/// The scrape jobs of the Prometheus servers of the input that remote-write to `store` (none
/// when none does). Unknown (None) when a prometheus-operator Prometheus or PrometheusAgent
/// writes to it (what it scrapes is judged for its own rules only), or a server with its own
/// config relabels what it writes (`write_relabel_configs` may rename `job`).
fn prometheus_writer_jobs(model: &Model<'_>, classes: &[Classification], store: Store) -> Option<Vec<Job>> {
    let mut operated =
        ["Prometheus", "PrometheusAgent"].into_iter().flat_map(|k| model.every("monitoring.coreos.com", k));
    if operated.any(|(_, o)| writes_to(model, o, "remoteWrite", store)) {
        return None;
    }
    let mut out = Vec::new();
    for (wi, w) in model.workloads.iter().enumerate() {
        let server = w.operated.is_none() && classes[wi].profile.as_deref() == Some("prometheus-server");
        let container = w.primary_or_first(classes[wi].primary.as_deref());
        let Some(config) = container.filter(|_| server).and_then(|c| prometheus::config_file(model, w, c)) else {
            continue;
        };
        let ns = model.objects[w.object].namespace();
        let writes = config.value.get("remote_write").and_then(|r| r.as_array()).into_iter().flatten();
        let writes: Vec<&serde_json::Value> = writes
            .filter(|r| r.get("url").and_then(|u| u.as_str()).is_some_and(|url| store.written_by(model, url, ns)))
            .collect();
        if writes.iter().any(|r| r.get("write_relabel_configs").is_some_and(|v| !v.is_null())) {
            return None;
        }
        if !writes.is_empty() {
            out.extend(jobs::raw_jobs(model, classes, &config.value, wi));
        }
    }
    Some(out)
}

/// The scrape jobs whose series reach `store`: those of every VMAgent that remote-writes to it,
/// with the components the operator has them scrape, and those of the Prometheus servers with a
/// config of their own that write to it. None when they are not known: nothing of the input
/// writes to it, an operator's Prometheus does, or an agent scrapes or relabels what is not read
/// here (static targets, probes, raw scrape configs, a Secret's scrape configs).
pub fn store_jobs(model: &Model<'_>, classes: &[Classification], store: Store) -> Option<Vec<Job>> {
    let agents: Vec<&Object> =
        model.every(GROUP, "VMAgent").map(|(_, o)| o).filter(|o| writes_to(model, o, "remoteWrite", store)).collect();
    let written = prometheus_writer_jobs(model, classes, store)?;
    if agents.is_empty() && written.is_empty() {
        return None;
    }
    let by_label = ByLabel::new(model);
    let mut scraped = Vec::new();
    for agent in &agents {
        scraped.extend(agent_jobs(model, classes, &by_label, agent)?);
    }
    let mut jobs = JobSet::default();
    // The operator's VMServiceScrapes for its components are scraped by a VMAgent.
    let components = if agents.is_empty() { Vec::new() } else { component_jobs(model) };
    components.into_iter().chain(scraped).chain(written).for_each(|j| jobs.add(j));
    Some(jobs.jobs)
}

/// The jobs of the components the operator runs, which it scrapes through VMServiceScrapes of its
/// own (not in any render), each named as its Service: `vmsingle-<name>`, `vmagent-<name>`...
fn component_jobs(model: &Model<'_>) -> Vec<Job> {
    let mut out = Vec::new();
    for (oi, o) in model.objects.iter().enumerate().filter(|(_, o)| o.id.group() == GROUP) {
        let prefixes: &[&str] = match o.id.kind.as_str() {
            "VMSingle" => &["vmsingle"],
            "VMAgent" => &["vmagent"],
            "VMAlert" => &["vmalert"],
            "VMAlertmanager" => &["vmalertmanager"],
            "VMAuth" => &["vmauth"],
            "VMCluster" => &["vmselect", "vminsert", "vmstorage"],
            _ => continue,
        };
        let runs: BTreeSet<usize> = (0..model.workloads.len()).filter(|&w| model.workloads[w].object == oi).collect();
        for prefix in prefixes {
            let sources = if runs.is_empty() { BTreeSet::new() } else { BTreeSet::from([jobs::TARGET]) };
            out.push(Job::new(format!("{prefix}-{}", o.id.name), sources, runs.clone()));
        }
    }
    out
}

/// What a VMAgent's spec may add that is not read here: scrape configs of its own, and
/// relabelings that it applies after each scrape object's (templates) or to everything it sends,
/// which may rewrite `job`.
const AGENT_UNREAD: &[&str] = &[
    "additionalScrapeConfigs",
    "inlineScrapeConfig",
    "serviceScrapeRelabelTemplate",
    "podScrapeRelabelTemplate",
    "nodeScrapeRelabelTemplate",
    "staticScrapeRelabelTemplate",
    "probeScrapeRelabelTemplate",
    "scrapeConfigRelabelTemplate",
    "relabelConfig",
    "inlineRelabelConfig",
];

/// One VMAgent's scrape jobs, or None when it scrapes or relabels what is not read here.
fn agent_jobs(
    model: &Model<'_>,
    classes: &[Classification],
    by_label: &ByLabel<'_, '_>,
    agent: &Object<'_>,
) -> Option<Vec<Job>> {
    let set = |n: Option<&Node>, key: &str| n.and_then(|n| n.get(key)).is_some_and(|v| !v.is_null());
    let spec = agent.node.get("spec");
    let remote_writes = spec.and_then(|s| s.get("remoteWrite")).and_then(Node::as_seq).unwrap_or_default();
    let relabeled = |w: &Node| set(Some(w), "urlRelabelConfig") || set(Some(w), "inlineUrlRelabelConfig");
    if AGENT_UNREAD.iter().any(|k| set(spec, k)) || remote_writes.iter().any(relabeled) {
        return None;
    }
    let all_namespaces = OnceLock::new();
    let every = jobs::Every::clamped(spec);
    let mut jobs = Vec::new();
    for o in &model.objects {
        let Some((keys, scrape)) = scrape_kind(o) else { continue };
        if !visit_selected(model, agent, keys, o, true) {
            continue;
        }
        match scrape {
            Scrape::Monitor => jobs.extend(jobs::monitor_jobs(model, classes, by_label, &all_namespaces, o, &every)),
            Scrape::Node => jobs.push(Job {
                interval: Some(every.of(o.node.get("spec").and_then(jobs::endpoint_interval))),
                ..node_job(o)
            }),
            Scrape::Unread => return None,
        }
    }
    Some(jobs)
}

/// A VMNodeScrape's job: `<namespace>/<name>`, or its nodes' `jobLabel` label (not known here),
/// then its relabelings. It scrapes each node's kubelet, cAdvisor when its path says so.
fn node_job(o: &Object<'_>) -> Job {
    let spec = o.node.get("spec");
    let seq = |key: &str| spec.and_then(|s| s.get(key)).and_then(Node::as_seq).unwrap_or_default().iter();
    let job_label = spec.and_then(|s| s.str_at(&["jobLabel"])).map(|l| relabel::job_label_source("node", l));
    let rename = JobRename::of(job_label.as_deref(), seq("relabelConfigs").map(Relabel::from_monitor));
    let own = format!("{}/{}", o.namespace(), o.id.name);
    let name = rename.job(&own, &|_| None);
    let cadvisor = spec.and_then(|s| s.str_at(&["path"])).is_some_and(|p| p.contains("cadvisor"));
    let sources = if cadvisor { [jobs::CADVISOR].into() } else { Default::default() };
    Job {
        stored: Stored::of(seq("metricRelabelConfigs").map(Relabel::from_monitor)),
        any_name: name.is_none(),
        ..Job::new(name.unwrap_or_else(|| format!("VMNodeScrape {own} (job relabeled)")), sources, Default::default())
    }
}

/// Where a VMAlert's alerts go: to the Alertmanager configs of the VMAlertmanagers its notifiers
/// name by URL (`vmalertmanager-<name>.<ns>:9093`, or a pod of it) or pick by their `selector`.
/// Taken to notify someone when a notifier reaches none of the input (a URL outside it, a selector
/// that picks none), or when a VMAlertmanager's config is not in the input. A `notifierConfigRef`
/// file is read instead (`notifier_file`).
pub fn vmalert_notify(model: &Model<'_>, vmalert: &Object<'_>) -> Notify {
    let keys = ["notifier", "notifiers", "notifierConfigRef"];
    if let nowhere @ Notify::Nowhere(_) =
        notify_if_set(vmalert, &keys, "no spec.notifier, spec.notifiers or spec.notifierConfigRef")
    {
        return nowhere;
    }
    let spec = vmalert.node.get("spec");
    let given = |key: &str| spec.and_then(|s| s.get(key)).filter(|n| !n.is_null());
    if given("notifierConfigRef").is_some() {
        return notifier_file(model, vmalert);
    }
    let notifiers: Vec<&Node> =
        given("notifier").into_iter().chain(given("notifiers").and_then(Node::as_seq).unwrap_or_default()).collect();
    let configs: Option<Vec<Vec<AlertmanagerConfig>>> = notifiers
        .iter()
        .map(|n| {
            let picked: Vec<(usize, &Object)> = match n.get("selector").filter(|s| !s.is_null()) {
                // The operator replaces a notifier that has a selector with the VMAlertmanagers it picks.
                Some(selector) => model.every(GROUP, "VMAlertmanager").filter(|(_, am)| picks(selector, am)).collect(),
                None => {
                    let url = n.str_at(&["url"])?;
                    let named = |(_, o): &(usize, &Object)| names_alertmanager(url, o, vmalert.namespace());
                    model.every(GROUP, "VMAlertmanager").find(named).into_iter().collect()
                }
            };
            if picked.is_empty() {
                // None of the input: the notifier's Alertmanagers are elsewhere.
                return None;
            }
            picked.into_iter().map(|(i, am)| alertmanager_config(model, i, am)).collect()
        })
        .collect();
    match configs {
        Some(configs) => Notify::Config(configs.concat()),
        None => Notify::Assumed,
    }
}

/// Where the notifier config file of `spec.notifierConfigRef` (a Secret key; vmalert's
/// `-notifier.config`) sends alerts: its `static_configs` targets, each a VMAlertmanager's Service
/// or pod, or an Alertmanager behind a Service of the input. Taken to notify when the Secret is not
/// in the input, the file discovers its notifiers (Consul, DNS) or relabels them, or a target is
/// outside the input.
fn notifier_file(model: &Model<'_>, vmalert: &Object<'_>) -> Notify {
    let Some(file) = secret_yaml(model, vmalert, "notifierConfigRef") else { return Notify::Assumed };
    // vmalert finds notifiers statically, through Consul or through DNS; not through Kubernetes.
    if file.get("kubernetes_sd_configs").is_some() {
        return Notify::Assumed;
    }
    let ns = vmalert.namespace();
    let resolve =
        |target: &str| match model.every(GROUP, "VMAlertmanager").find(|(_, o)| names_alertmanager(target, o, ns)) {
            Some((i, am)) => alertmanager_config(model, i, am).map(|c| vec![c]),
            None => configs_at(model, ns, target),
        };
    // The file is one entry of a Prometheus config's `alertmanagers` list, as vmalert reads it.
    match raw_alertmanagers_via(model, ns, std::slice::from_ref(&file), &resolve) {
        Reach::Configs(configs) => Notify::Config(configs),
        Reach::Outside | Reach::Unjudged => Notify::Assumed,
    }
}

/// Whether a notifier's `selector` picks the VMAlertmanager `am`, as the operator lists them
/// (VictoriaMetrics/operator `discoverNotifierIfNeeded`, `DiscoverySelector`): by its
/// `labelSelector`, in any namespace unless its `namespaceSelector` (`any`, `matchNames`) says.
fn picks(selector: &Node, am: &Object<'_>) -> bool {
    let given = |key: &str| selector.get(key).filter(|n| !n.is_null());
    let labelled = given("labelSelector").is_none_or(|sel| label_selector_matches(sel, &am.labels()));
    let in_namespace = given("namespaceSelector").is_none_or(|ns| {
        ns.get("any").and_then(Node::as_bool) == Some(true)
            || ns
                .get("matchNames")
                .and_then(Node::as_seq)
                .unwrap_or_default()
                .iter()
                .any(|n| n.as_str() == Some(am.namespace()))
    });
    labelled && in_namespace
}

/// Whether `url` reaches the VMAlertmanager `am` (from namespace `default_ns`): its Service
/// `vmalertmanager-<name>`, or a pod of its StatefulSet (`vmalertmanager-<name>-0.vmalertmanager-<name>.<ns>`).
fn names_alertmanager(url: &str, am: &Object<'_>, default_ns: &str) -> bool {
    let service = format!("vmalertmanager-{}", am.id.name);
    let at = |u: &str| {
        service_of_url(u).is_some_and(|(name, ns)| name == service && ns.unwrap_or(default_ns) == am.namespace())
    };
    let host = url.split_once("://").map_or(url, |(_, rest)| rest);
    at(url) || host.split_once('.').is_some_and(|(_, rest)| at(rest))
}

/// A VMAlertmanager's config, as the operator builds it: the `alertmanager.yaml` of the Secret
/// `spec.configSecret`, else `spec.configRawYaml`, with the VMAlertmanagerConfigs it selects merged
/// in. None when the Secret is not in the input.
fn alertmanager_config(model: &Model<'_>, i: usize, am: &Object<'_>) -> Option<AlertmanagerConfig> {
    let spec = am.node.get("spec");
    let given = |key: &str| spec.and_then(|s| s.str_at(&[key])).filter(|v| !v.trim().is_empty());
    // The operator reads the Secret first, and ignores one named as the Secret it writes itself.
    let own = format!("vmalertmanager-{}-config", am.id.name);
    let mut base = match (given("configSecret").filter(|s| *s != own), given("configRawYaml")) {
        (Some(secret), _) => notify::secret_config(model, am.namespace(), secret, &["alertmanager.yaml"])?,
        (None, Some(raw)) => AlertmanagerConfig { object: i, config: notify::parse(raw)? },
        (None, None) => AlertmanagerConfig { object: i, config: serde_json::json!({}) },
    };
    default_route(&mut base.config);
    merge_selected_configs(model, am, &mut base.config);
    Some(base)
}

/// A config with no root route gets the operator's: every alert to `blackhole`, a receiver with no
/// integrations. With no config at all the operator writes the same (`defaultAMConfig`, and
/// `buildConfig` for a base without a route; VictoriaMetrics/operator,
/// `internal/controller/operator/factory/alertmanager`).
fn default_route(config: &mut serde_json::Value) {
    use serde_json::{Value, json};
    if !config.is_object() {
        *config = json!({});
    }
    let Some(obj) = config.as_object_mut() else { return };
    if obj.get("route").is_some_and(Value::is_object) {
        return;
    }
    obj.insert("route".into(), json!({ "receiver": "blackhole" }));
    let receivers = obj.entry("receivers").or_insert_with(|| json!([]));
    if !receivers.is_array() {
        *receivers = json!([]);
    }
    if let Some(list) = receivers.as_array_mut()
        && !list.iter().any(|r| r.get("name").and_then(Value::as_str) == Some("blackhole"))
    {
        list.push(json!({ "name": "blackhole" }));
    }
}

/// The VMAlertmanagerConfigs a VMAlertmanager selects, merged as the operator's `buildConfig`
/// merges them: each one's route goes after the config's own routes, with its receivers' names
/// prefixed by its namespace and name, a `namespace="<its namespace>"` matcher unless
/// `spec.disableNamespaceMatcher`, the `spec.enforcedTopRouteMatchers`, and `continue: true`
/// unless `spec.disableRouteContinueEnforce`; its receivers join the config's. Its fields are
/// Alertmanager's own (`matchers`, `webhook_configs`...), unlike prometheus-operator's
/// AlertmanagerConfig.
fn merge_selected_configs(model: &Model<'_>, am: &Object<'_>, config: &mut serde_json::Value) {
    use serde_json::Value;
    let keys = ("configSelector", "configNamespaceSelector");
    let mut selected: Vec<&Object<'_>> = model
        .every(GROUP, "VMAlertmanagerConfig")
        .map(|(_, o)| o)
        .filter(|o| visit_selected(model, am, keys, o, true))
        .collect();
    if selected.is_empty() {
        return;
    }
    selected.sort_by(|a, b| (a.namespace(), &a.id.name).cmp(&(b.namespace(), &b.id.name)));
    let spec = am.node.get("spec");
    let set = |key: &str| spec.and_then(|s| s.get(key)).and_then(Node::as_bool) == Some(true);
    let enforced = spec.and_then(|s| s.get("enforcedTopRouteMatchers")).and_then(Node::as_seq).unwrap_or_default();
    let (mut routes, mut receivers) = (Vec::new(), Vec::new());
    for o in selected {
        let Some(cr) = o.node.get("spec") else { continue };
        let key = notify::cr_key(o.namespace(), &o.id.name);
        if let Some(route) = cr.get("route").filter(|r| r.as_map().is_some()) {
            let mut route = route.to_json();
            prefix_receivers(&mut route, &key, 0);
            if let Some(r) = route.as_object_mut() {
                let mut matchers = match r.remove("matchers") {
                    Some(Value::Array(m)) => m,
                    _ => Vec::new(),
                };
                if !set("disableNamespaceMatcher") {
                    matchers.push(Value::String(format!("namespace=\"{}\"", o.namespace())));
                }
                matchers.extend(enforced.iter().filter_map(Node::as_str).map(|m| Value::String(m.to_owned())));
                r.insert("matchers".into(), Value::Array(matchers));
                if !set("disableRouteContinueEnforce") {
                    r.insert("continue".into(), Value::Bool(true));
                }
            }
            routes.push(route);
        }
        for r in cr.get("receivers").and_then(Node::as_seq).unwrap_or_default() {
            let mut r = r.to_json();
            if let Some(Value::String(name)) = r.get_mut("name") {
                *name = format!("{key}/{name}");
            }
            receivers.push(r);
        }
    }
    notify::add_routes(config, routes, receivers, false);
}

/// Prefixes the receiver of a VMAlertmanagerConfig route and of the routes under it.
fn prefix_receivers(route: &mut serde_json::Value, key: &str, depth: usize) {
    if let Some(serde_json::Value::String(r)) = route.get_mut("receiver") {
        *r = format!("{key}/{r}");
    }
    if depth < crate::input::yaml::MAX_DEPTH
        && let Some(serde_json::Value::Array(children)) = route.get_mut("routes")
    {
        children.iter_mut().for_each(|c| prefix_receivers(c, key, depth + 1));
    }
}
