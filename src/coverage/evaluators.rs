//! Who evaluates which alert and recording rules, and whether it can notify: prometheus-operator
//! `Prometheus` and `ThanosRuler` objects, raw Prometheus servers, evaluators the config
//! declares, and an unknown one when the evaluator is not in the input. What each scrapes is in
//! `jobs.rs`.

use foldhash::{HashMap, HashMapExt};
use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::jobs::{self, Job, JobIndex};
use super::notify::{self, AlertmanagerConfig};
use super::rules::{AlertRule, Origin, Record, holds_rules, is_vm_rule};
use super::victoria::{self, is_vm_alert};
use crate::classify::Classification;
use crate::config::Config;
use crate::input::{Node, yaml};
use crate::model::references::{label_selector_matches, workload_at};
use crate::model::{ContainerInfo, Model, Object, Workload, prometheus, string_map};

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
    /// The workload whose death stops this evaluator, for self-monitoring: the Prometheus it runs
    /// as, or the VMSingle (or Prometheus) a VMAlert queries.
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
    /// are not known), whose cache of regex verdicts is not shared; verdicts are added to `out` in
    /// rule order.
    pub fn judge_rules<T: Send>(&self, out: &mut Vec<T>, judge: impl Fn(usize, Option<&JobIndex>) -> Option<T> + Sync) {
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
        out.reserve_exact(per_chunk.iter().map(Vec::len).sum());
        per_chunk.into_iter().for_each(|mut c| out.append(&mut c));
    }
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
    rule.is("monitoring.coreos.com", "PrometheusRule")
        && object_selected(spec.and_then(|s| s.get("ruleSelector")), &rule.labels())
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
        self.loaded(|o| matches!(*o, Origin::Object(i) if *judged.entry(i).or_insert_with(|| selects(i))))
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
        if w.operator_prometheus() {
            let spec = o.node.get("spec");
            let selected = origins.selected(|i| operator_selects(model, o, &model.objects[i]));
            let ams =
                spec.and_then(|s| s.path(&["alerting", "alertmanagers"])).and_then(Node::as_seq).unwrap_or_default();
            // Alerts go to every Alertmanager listed and to those of additionalAlertManagerConfigs;
            // when one is not found in the input they are assumed to notify.
            let configs: Option<Vec<AlertmanagerConfig>> = ams
                .iter()
                .map(|am| {
                    let ns = am.str_at(&["namespace"]).unwrap_or(o.namespace());
                    notify::endpoint_configs(model, ns, am.str_at(&["name"]).unwrap_or_default())
                })
                .collect::<Option<Vec<_>>>()
                .map(|configs| configs.into_iter().flatten().collect());
            let notify = match (configs, secret_alertmanagers(model, o)) {
                (Some(configs), Some(extra)) if configs.is_empty() && extra.is_empty() => {
                    Notify::Nowhere(format!("Prometheus {} has no spec.alerting.alertmanagers", o.id.name))
                }
                (Some(mut configs), Some(extra)) => {
                    configs.extend(extra);
                    Notify::Config(configs)
                }
                _ => Notify::Assumed,
            };
            let jobs = secret_scrape_configs(model, o).map(|extra| {
                let mut jobs = jobs::operator_jobs(model, classes, o, wi);
                let secret_jobs = jobs::raw_jobs(model, classes, &extra, wi);
                jobs.extend(secret_jobs.into_iter().map(|j| Job { in_secret: true, ..j }));
                jobs
            });
            evaluators.push(Evaluator {
                id: format!("{}/{}", o.namespace(), o.id.name),
                object: Some(w.object),
                workload: Some(wi),
                jobs,
                rules: selected.rules,
                records: selected.records,
                notify,
            });
        } else if classes[wi].profile.as_deref() == Some("prometheus-server") {
            let Some(c) = w.primary_or_first(classes[wi].primary.as_deref()) else { continue };
            let Some(cfg) = prometheus::config_file(model, w, c) else { continue };
            let loaded = raw_rules(model, wi, &cfg.value, &origins);
            let notify = if has_alertmanagers(&cfg.value) {
                let reach = cfg
                    .value
                    .pointer("/alerting/alertmanagers")
                    .and_then(Value::as_array)
                    .map_or(Reach::Unjudged, |entries| raw_alertmanagers(model, o.namespace(), entries));
                match reach {
                    Reach::Configs(configs) => Notify::Config(configs),
                    Reach::Outside => Notify::Assumed,
                    // The prometheus chart's Alertmanager, if its ConfigMap is here.
                    Reach::Unjudged => notify::configmap_config(model, o.namespace())
                        .map_or(Notify::Assumed, |c| Notify::Config(vec![c])),
                }
            } else {
                Notify::Nowhere(format!("prometheus.yml of {} has no alerting.alertmanagers", o.id.name))
            };
            evaluators.push(Evaluator {
                id: format!("{}/{}", o.namespace(), o.id.name),
                object: Some(w.object),
                workload: Some(wi),
                jobs: Some(jobs::raw_jobs(model, classes, &cfg.value, wi)),
                rules: loaded.rules,
                records: loaded.records,
                notify,
            });
        }
    }
    // A ThanosRuler loads the PrometheusRules it selects as a Prometheus does, but queries through
    // Thanos Query: the stores behind the query, and so the scrape jobs its rules see, are not in
    // the input, and its rules are judged against none.
    let thanos_rulers: Vec<(usize, &Object)> = model.every("monitoring.coreos.com", "ThanosRuler").collect();
    for &(oi, o) in &thanos_rulers {
        let notify = thanos_ruler_notify(model, o);
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
    // A VMAlert loads the rules it selects and queries its datasource. A VMSingle's or VMCluster's
    // scrape jobs are those of the VMAgents that write to it (`victoria.rs`); those of another
    // datasource (a Prometheus, one outside the input) are not read, and its rules are judged
    // against none, like a ThanosRuler's. It notifies the VMAlertmanagers its notifiers name.
    let vm_alerts: Vec<(usize, &Object)> = victoria::vm_alerts(model).collect();
    for &(oi, o) in &vm_alerts {
        let spec = o.node.get("spec");
        let notify = victoria::vmalert_notify(model, o);
        let selected = origins.selected(|i| victoria::selects_rule(model, o, &model.objects[i]));
        // Its rules query the datasource: when that VMSingle (or Prometheus) is down, they fire no more.
        let datasource = spec.and_then(|s| s.str_at(&["datasource", "url"]));
        let queried = datasource.and_then(|url| workload_at(model, url, o.namespace()));
        let store = datasource.and_then(|url| victoria::Store::read_at(model, url, o.namespace(), queried));
        evaluators.push(Evaluator {
            id: format!("VMAlert {}/{}", o.namespace(), o.id.name),
            object: Some(oi),
            workload: queried,
            jobs: store.and_then(|store| victoria::store_jobs(model, classes, store)),
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
            .map(|j| Job::new(j.clone(), BTreeSet::from([jobs::KSM, jobs::CADVISOR, jobs::TARGET]), all.clone()))
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
            if let Origin::Object(o) = rules[i].origin {
                held[o] = true;
            }
        }
        for &i in &e.records {
            recorded[i] = true;
            if let Origin::Object(o) = records[i].origin {
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
    // Every object whose ruleSelector could load a PrometheusRule; VMAlerts load VMRules too.
    let rule_selectors: Vec<&Object> = model
        .workloads
        .iter()
        .filter(|w| w.operator_prometheus())
        .map(|w| &model.objects[w.object])
        .chain(thanos_rulers.iter().map(|(_, o)| *o))
        .chain(vm_alerts.iter().map(|(_, o)| *o))
        .collect();
    let selects = |p: &Object, rule: &Object| {
        if is_vm_alert(p) { victoria::selects_rule(model, p, rule) } else { operator_selects(model, p, rule) }
    };
    // Whether the input's evaluators decide which rules of this object's kind run: a VMRule is
    // read only by a VMAlert.
    let judged =
        |rule: &Object| !assume_loaded && rule_selectors.iter().any(|p| !is_vm_rule(&rule.id) || is_vm_alert(p));
    let mut unselected = Vec::new();
    // Every rule object, recording-only ones included: a recording rule nobody loads feeds nothing.
    let rule_objects = model.objects.iter().enumerate().filter(|(_, o)| holds_rules(&o.id));
    for (o, obj) in rule_objects.filter(|(_, o)| judged(o)) {
        if held[o] || rule_selectors.iter().any(|p| selects(p, obj)) {
            continue;
        }
        let labels = obj.labels();
        let readers = rule_selectors.iter().filter(|p| !is_vm_rule(&obj.id) || is_vm_alert(p));
        let mut lacks: Vec<String> = readers
            .flat_map(|p| match is_vm_alert(p) {
                true => victoria::missing_labels(p, obj),
                false => missing_labels(p.node.path(&["spec", "ruleSelector"]), &labels),
            })
            .collect();
        lacks.dedup();
        unselected.push((o, lacks));
    }
    // Rules that an evaluator outside the input may load: in rule files, or in rule objects
    // whose kind no evaluator of the input (or --assume-rules-loaded) decides. Rule files in a
    // ConfigMap that no Prometheus mounts are read by none.
    let outside = |o: &Origin| match o {
        Origin::Object(i) => !judged(&model.objects[*i]),
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

/// An evaluator that names its Alertmanagers in spec fields whose targets are not read: assumed to
/// notify when one of `keys` is set (not null, not an empty list), else it notifies nobody.
pub(super) fn notify_if_set(o: &Object<'_>, keys: &[&str], lacks: &str) -> Notify {
    let spec = o.node.get("spec");
    let set = |key: &&str| {
        spec.and_then(|s| s.get(key)).is_some_and(|n| !n.is_null() && n.as_seq().is_none_or(|s| !s.is_empty()))
    };
    if keys.iter().any(set) {
        Notify::Assumed
    } else {
        Notify::Nowhere(format!("{} {} has {lacks}", o.id.kind, o.id.name))
    }
}

/// Where a ThanosRuler's alerts go: to the Alertmanagers that the addresses of its
/// `alertmanagersConfig` (a Secret key in Thanos's own format), else its `alertmanagersUrl`, name
/// by Service (`http://kps-alertmanager.monitoring:9093`, or for Thanos to look up,
/// `dnssrv+http://_http-web._tcp.alertmanager-operated.monitoring.svc`), resolved as an operator
/// Prometheus's entries are. Taken to notify when the Secret is not in the input, an entry uses
/// file discovery, or an address names no Service of the input.
fn thanos_ruler_notify(model: &Model<'_>, o: &Object<'_>) -> Notify {
    let keys = ["alertmanagersConfig", "alertmanagersUrl"];
    let nowhere = notify_if_set(o, &keys, "neither spec.alertmanagersUrl nor spec.alertmanagersConfig");
    if matches!(nowhere, Notify::Nowhere(_)) {
        return nowhere;
    }
    let urls = || {
        let list = o.node.path(&["spec", keys[1]]).and_then(Node::as_seq).unwrap_or_default();
        list.iter().map(|u| u.as_str().map(str::to_owned)).collect()
    };
    let addresses: Option<Vec<String>> = match secret_yaml(model, o, keys[0]) {
        Some(Value::Null) => urls(),
        Some(config) => thanos_config_addresses(&config),
        None => None,
    };
    let configs: Option<Vec<Vec<AlertmanagerConfig>>> =
        addresses.and_then(|list| list.iter().map(|a| configs_at(model, o.namespace(), a)).collect());
    match configs.map(|c| c.concat()) {
        Some(configs) if !configs.is_empty() => Notify::Config(configs),
        _ => Notify::Assumed,
    }
}

/// The addresses of a Thanos alerting config (`alertmanagers[].static_configs`); None when an
/// entry finds its Alertmanagers in files (`file_sd_configs`).
fn thanos_config_addresses(config: &Value) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for am in config.get("alertmanagers")?.as_array()? {
        if am.get("file_sd_configs").is_some() {
            return None;
        }
        for address in am.get("static_configs")?.as_array()? {
            out.push(address.as_str()?.to_owned());
        }
    }
    Some(out)
}

/// The configs of the Alertmanagers behind an address (`alertmanager-main.monitoring.svc:9093`, a
/// URL), from namespace `ns`: those the Service its host names selects, resolved as
/// `notify::endpoint_configs` resolves an operator Prometheus's entries. Thanos's `dns+`, `dnssrv+`
/// and `dnssrvnoa+` prefixes ask it to look the name up, and an SRV name starts with
/// `_<port>._<protocol>.`. None when it names no Service of the input.
pub(super) fn configs_at(model: &Model<'_>, ns: &str, address: &str) -> Option<Vec<AlertmanagerConfig>> {
    let url = address.split_once('+').filter(|(lookup, _)| lookup.starts_with("dns")).map_or(address, |(_, u)| u);
    let mut host = url.split_once("://").map_or(url, |(_, rest)| rest);
    while let Some((_, rest)) = host.strip_prefix('_').and_then(|h| h.split_once('.')) {
        host = rest;
    }
    let (service, target_ns) = crate::model::references::service_of_url(host)?;
    notify::endpoint_configs(model, target_ns.unwrap_or(ns), service)
}

fn has_alertmanagers(config: &Value) -> bool {
    config.pointer("/alerting/alertmanagers").and_then(Value::as_array).is_some_and(|a| !a.is_empty())
}

/// Where raw `alertmanagers` entries send alerts, as far as the input tells.
pub(super) enum Reach {
    /// The configs of every Alertmanager they reach.
    Configs(Vec<AlertmanagerConfig>),
    /// Judged: they reach an Alertmanager that is not in the input, or whose config is not, or none.
    Outside,
    /// An entry whose targets cannot be judged here: file or DNS discovery, a malformed entry.
    Unjudged,
}

impl Reach {
    fn and(self, other: Reach) -> Reach {
        match (self, other) {
            (Reach::Unjudged, _) | (_, Reach::Unjudged) => Reach::Unjudged,
            (Reach::Outside, _) | (_, Reach::Outside) => Reach::Outside,
            (Reach::Configs(mut a), Reach::Configs(b)) => {
                a.extend(b);
                Reach::Configs(a)
            }
        }
    }

    fn of(configs: Vec<AlertmanagerConfig>) -> Reach {
        if configs.is_empty() { Reach::Outside } else { Reach::Configs(configs) }
    }
}

/// The configs of the Alertmanagers that raw `alertmanagers` entries (a raw config's
/// `alerting.alertmanagers`, or additionalAlertManagerConfigs) reach: a static target
/// (`alertmanager-main.monitoring.svc:9093`) through the Service its DNS name names, resolved as
/// `notify::endpoint_configs` resolves an operator Prometheus's entries; Kubernetes service
/// discovery through the Alertmanagers of the input that its relabelings keep.
fn raw_alertmanagers(model: &Model<'_>, ns: &str, entries: &[Value]) -> Reach {
    raw_alertmanagers_via(model, ns, entries, &|target| configs_at(model, ns, target))
}

/// `raw_alertmanagers`, with static targets resolved by `resolve` (a VMAlert's notifier file also
/// names VMAlertmanagers, whose Services the operator makes).
pub(super) fn raw_alertmanagers_via(
    model: &Model<'_>,
    ns: &str,
    entries: &[Value],
    resolve: &dyn Fn(&str) -> Option<Vec<AlertmanagerConfig>>,
) -> Reach {
    let mut reach = Reach::Configs(Vec::new());
    for entry in entries {
        let Some(fields) = entry.as_object() else { return Reach::Unjudged };
        let discovery: Vec<&str> = fields.keys().map(String::as_str).filter(|k| k.ends_with("_sd_configs")).collect();
        reach = reach.and(match discovery.as_slice() {
            ["kubernetes_sd_configs"] => discovered_alertmanagers(model, ns, entry),
            [] if !fields.contains_key("relabel_configs") => static_alertmanagers(entry, resolve),
            _ => Reach::Unjudged,
        });
    }
    match reach {
        Reach::Configs(c) => Reach::of(c),
        other => other,
    }
}

fn static_alertmanagers(entry: &Value, resolve: &dyn Fn(&str) -> Option<Vec<AlertmanagerConfig>>) -> Reach {
    let Some(groups) = entry.get("static_configs").and_then(Value::as_array) else { return Reach::Unjudged };
    let mut reach = Reach::Configs(Vec::new());
    for group in groups {
        let Some(targets) = group.get("targets").and_then(Value::as_array) else { return Reach::Unjudged };
        for target in targets {
            let Some(target) = target.as_str() else { return Reach::Unjudged };
            reach = reach.and(resolve(target).map_or(Reach::Outside, Reach::of));
        }
    }
    reach
}

/// The configs of the Alertmanager workloads (a container running an `alertmanager` image, as the
/// prometheus chart's subchart deploys it) that an entry's Kubernetes service discovery and
/// relabelings keep. Outside when it keeps none of them, or one whose config is not in the input.
fn discovered_alertmanagers(model: &Model<'_>, ns: &str, entry: &Value) -> Reach {
    let Some(kept) = super::discovery::Discovery::of(entry).and_then(|d| d.targets(model, ns)) else {
        return Reach::Unjudged;
    };
    let mut out = Vec::new();
    for w in kept.into_iter().map(|i| &model.workloads[i]) {
        let Some(c) = w.running().find(|c| c.spec.image.as_deref().is_some_and(runs_alertmanager)) else { continue };
        let Some(config) = alertmanager_config(model, w, c) else { return Reach::Outside };
        out.push(config);
    }
    Reach::of(out)
}

/// An Alertmanager container's config, read from the ConfigMap or Secret its `--config.file` is
/// mounted from (a Secret keeps receivers' webhook URLs and keys out of sight).
fn alertmanager_config(model: &Model<'_>, w: &Workload<'_>, c: &ContainerInfo<'_>) -> Option<AlertmanagerConfig> {
    let flags = prometheus::flags(c);
    // Without the flag, the image's own command names this path.
    let path = prometheus::flag(&flags, "config.file").and_then(|f| f.value.as_deref());
    let (holder, key) = prometheus::volume_file(model, w, c, path.unwrap_or("/etc/alertmanager/alertmanager.yml"))?;
    let (object, _) = model.every("", &holder.id.kind).find(|(_, o)| std::ptr::eq(*o, holder))?;
    notify::config_in(model, object, &[&key])
}

/// `quay.io/prometheus/alertmanager:v0.27.0`, `bitnami/alertmanager@sha256:...`.
fn runs_alertmanager(image: &str) -> bool {
    let name = image.rsplit('/').next().unwrap_or(image);
    name.split(['@', ':']).next() == Some("alertmanager")
}

/// The scrape configs an operator Prometheus appends from the Secret key named by
/// `spec.additionalScrapeConfigs` (kube-prometheus-stack renders its `additionalScrapeConfigs`
/// value there), as a raw config: none when it names no Secret, and unknown (`None`) when the
/// Secret or key is not in the input, or does not hold a list of scrape configs.
fn secret_scrape_configs(model: &Model<'_>, prometheus: &Object<'_>) -> Option<Value> {
    match secret_list(model, prometheus, "additionalScrapeConfigs")? {
        Value::Null => Some(Value::Null),
        list => Some(serde_json::json!({ "scrape_configs": list })),
    }
}

/// Where an operator Prometheus also sends alerts: the Alertmanagers of the Secret key named by
/// `spec.additionalAlertManagerConfigs`, a list of raw `alertmanagers` entries, resolved as a raw
/// config's are. Empty when it names no Secret; unknown (`None`) when the Secret is
/// not in the input or a target does not resolve.
fn secret_alertmanagers(model: &Model<'_>, prometheus: &Object<'_>) -> Option<Vec<AlertmanagerConfig>> {
    match secret_list(model, prometheus, "additionalAlertManagerConfigs")? {
        Value::Null => Some(Vec::new()),
        Value::Array(list) if list.is_empty() => Some(Vec::new()),
        Value::Array(list) => match raw_alertmanagers(model, prometheus.namespace(), &list) {
            Reach::Configs(configs) => Some(configs),
            Reach::Outside | Reach::Unjudged => None,
        },
        _ => None,
    }
}

/// The YAML list in the Secret key that the Prometheus's `spec.<field>` names (a SecretKeySelector):
/// null when the field is unset, unknown (`None`) when the Secret or key is not in the input or
/// does not hold a list.
fn secret_list(model: &Model<'_>, prometheus: &Object<'_>, field: &str) -> Option<Value> {
    secret_yaml(model, prometheus, field).filter(|v| v.is_null() || v.is_array())
}

/// The YAML document in the Secret key that `spec.<field>` of `o` names (a SecretKeySelector), an
/// empty text as an empty list: null when the field is unset, unknown (`None`) when the Secret or
/// key is not in the input or does not parse.
pub(super) fn secret_yaml(model: &Model<'_>, o: &Object<'_>, field: &str) -> Option<Value> {
    let Some(selector) = o.node.path(&["spec", field]).filter(|n| !n.is_null()) else {
        return Some(Value::Null);
    };
    let secret = model.core_object("Secret", o.namespace(), selector.str_at(&["name"])?)?;
    let text = secret.data_text(selector.str_at(&["key"])?)?;
    let parsed = yaml::parse_stream(&text);
    match parsed.documents.as_slice() {
        [] => Some(Value::Array(Vec::new())),
        [doc] if parsed.problems.is_empty() => Some(doc.root.to_json()),
        _ => None,
    }
}
