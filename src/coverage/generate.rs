//! `meterguard alerts generate`: a PrometheusRule that covers every uncovered metering workload
//! for every failure mode, labelled for the Prometheus that would select it.

use std::fmt::Write;

use saphyr::{Scalar, Yaml, YamlEmitter};

use super::evaluators::Evaluator;
use super::jobs::{Job, KSM};
use super::{Analysis, Target, target};
use crate::model::{Model, string_map};

/// A text inside a PromQL double-quoted string: a name from the input cannot end the string.
fn promql_str(v: &str) -> String {
    let escaped = serde_json::to_string(v).unwrap_or_default();
    escaped.trim_matches('"').to_owned()
}

/// A name as a regular expression that matches it alone: RE2's metacharacters escaped (not `-`,
/// which only classes read, so that `kube-state-metrics` stays as written).
fn regex_literal(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The pod names a workload's controller creates, as an anchored regular expression, written
/// inside a PromQL string.
fn pod_regex(t: &Target) -> String {
    let n = promql_str(&regex_literal(&t.name));
    match t.kind.as_str() {
        "Deployment" => format!("{n}-[a-z0-9]+-[a-z0-9]+"),
        "StatefulSet" => format!("{n}-[0-9]+"),
        "CronJob" => format!("{n}-[0-9]+-[a-z0-9]+"),
        "Pod" => n,
        _ => format!("{n}-[a-z0-9]+"),
    }
}

struct Alert {
    name: String,
    expr: String,
    /// The kube-state-metrics series it reads.
    reads: Vec<&'static str>,
    for_: &'static str,
    summary: String,
    runbook: &'static str,
}

/// A range of at least `minutes`, and of four scrape intervals of the job when it scrapes more
/// slowly (Robust Perception's advice), so that the range always holds the samples it needs.
fn range(minutes: u64, interval: Option<f64>) -> String {
    let floor = std::time::Duration::from_secs(minutes * 60);
    let slow = interval.and_then(|i| std::time::Duration::try_from_secs_f64(4.0 * i).ok());
    super::promql::display_duration(&slow.map_or(floor, |s| s.max(floor)))
}

/// `interval`: how often the job the alerts read is scraped, in seconds, when known.
fn alerts_for(t: &Target, mode: &str, job: &str, interval: Option<f64>) -> Option<Alert> {
    let ns = &promql_str(&t.namespace);
    let name = promql_str(&t.name);
    let pod = pod_regex(t);
    let camel: String = t
        .name
        .split(['-', '.'])
        .map(|p| {
            let mut c = p.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect();
    let pods = format!(r#"namespace="{ns}", pod=~"{pod}"{job}"#);
    Some(match mode {
        "crashloop" => Alert {
            name: format!("{camel}CrashLooping"),
            expr: format!(
                r#"max_over_time(kube_pod_container_status_waiting_reason{{reason="CrashLoopBackOff", {pods}}}[{}]) >= 1"#,
                range(5, interval)
            ),
            reads: vec!["kube_pod_container_status_waiting_reason"],
            for_: "15m",
            summary: format!("{} {ns}/{} is crash-looping", t.kind, t.name),
            runbook: "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping",
        },
        "oom" => Alert {
            name: format!("{camel}OOMKilled"),
            expr: format!(
                r#"(increase(kube_pod_container_status_restarts_total{{{pods}}}[{}]) > 0) and on (namespace, pod, container) (kube_pod_container_status_last_terminated_reason{{reason="OOMKilled", {pods}}} == 1)"#,
                range(15, interval)
            ),
            reads: vec!["kube_pod_container_status_restarts_total", "kube_pod_container_status_last_terminated_reason"],
            for_: "0m",
            summary: format!("{} {ns}/{} was OOM-killed", t.kind, t.name),
            runbook: "https://kubernetes.io/docs/tasks/configure-pod-container/assign-memory-resource/",
        },
        "down" => {
            let (metric, label, cmp) = match t.kind.as_str() {
                "Deployment" => ("kube_deployment_status_replicas_available", "deployment", "< 1"),
                "StatefulSet" => ("kube_statefulset_status_replicas_ready", "statefulset", "< 1"),
                "DaemonSet" => ("kube_daemonset_status_number_unavailable", "daemonset", "> 0"),
                "Job" => ("kube_job_status_failed", "job_name", "> 0"),
                "CronJob" => {
                    return Some(Alert {
                        name: format!("{camel}Failing"),
                        reads: vec!["kube_job_status_failed"],
                        expr: format!(
                            r#"kube_job_status_failed{{namespace="{ns}", job_name=~"{}-[0-9]+"{job}}} > 0"#,
                            promql_str(&regex_literal(&t.name))
                        ),
                        for_: "10m",
                        summary: format!("CronJob {ns}/{} has failing runs", t.name),
                        runbook: "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubejobfailed",
                    });
                }
                _ => {
                    return Some(Alert {
                        name: format!("{camel}Down"),
                        reads: vec!["kube_pod_status_ready"],
                        expr: format!(
                            r#"kube_pod_status_ready{{condition="true", namespace="{ns}", pod="{name}"{job}}} == 0"#
                        ),
                        for_: "10m",
                        summary: format!("Pod {ns}/{} is not ready", t.name),
                        runbook: "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodnotready",
                    });
                }
            };
            Alert {
                name: format!("{camel}Down"),
                reads: vec![metric],
                expr: format!(r#"{metric}{{namespace="{ns}", {label}="{name}"{job}}} {cmp}"#),
                for_: "10m",
                summary: format!("{} {ns}/{} has no available replica", t.kind, t.name),
                runbook: "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubedeploymentreplicasmismatch",
            }
        }
        _ => return None,
    })
}

/// Where the rules go when no prometheus-operator Prometheus is in the input but a plain one is
/// (Kubecost's bundled server): a rule file it loads, and whether it scrapes the
/// kube-state-metrics these rules read.
fn plain_prometheus_note(model: &Model<'_>, a: &Analysis) -> String {
    let plain = a.evaluators.iter().filter(|e| e.object.is_some_and(|o| model.objects[o].id.kind != "ThanosRuler"));
    let Some(e) = plain.min_by_key(|e| e.workload.is_some_and(|w| a.per_workload.contains_key(&w))) else {
        return String::new();
    };
    let mut note = format!(
        "# No prometheus-operator Prometheus is in the input, and {} reads rule files, not PrometheusRules:\n\
         # put the groups under `spec:` in a file its rule_files load (the prometheus chart's\n\
         # serverFiles.alerting_rules.yml; Kubecost's prometheus.serverFiles.alerting_rules.yml).\n",
        e.id
    );
    if e.jobs.is_some() && !e.jobs.iter().flatten().any(Job::scrapes_ksm) {
        note.push_str(&format!(
            "# {} scrapes no kube-state-metrics: deploy one and scrape it, or these alerts cannot fire.\n",
            e.id
        ));
    }
    note
}

/// A string as the emitter writes it, tagged `!!str` where saphyr's emitter would leave it plain
/// but a YAML 1.1 reader (Kubernetes') would take it for a boolean.
fn text(v: &str) -> Yaml<'static> {
    let value = Yaml::Value(Scalar::String(v.to_owned().into()));
    if matches!(v, "y" | "Y" | "n" | "N") {
        let tag = saphyr::Tag { handle: "!!".into(), suffix: "str".into() };
        return Yaml::Tagged(std::borrow::Cow::Owned(tag), Box::new(value));
    }
    value
}

fn map(entries: Vec<(&str, Yaml<'static>)>) -> Yaml<'static> {
    let mut m = saphyr::Mapping::new();
    for (k, v) in entries {
        m.insert(text(k), v);
    }
    Yaml::Mapping(m)
}

/// A comment line of our own about the input: whatever a name holds, it stays one comment line.
fn comment(out: &mut String, line: &str) {
    let safe: String = line.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let _ = writeln!(out, "# {safe}");
}

/// YAML text of the PrometheusRule, or None when everything is covered. Written by a YAML
/// emitter, so that no name from the input can change its structure; every label name is valid
/// under Prometheus 2.x's rules (`[a-zA-Z_][a-zA-Z0-9_]*`), which refuse a whole file otherwise.
pub fn prometheus_rule(model: &Model<'_>, a: &Analysis) -> Option<String> {
    // Prefer an operator Prometheus that is not itself being watched: it can report the others' death.
    // Else a VMAlert, which gets a VMRule of the same groups.
    let kind_of = |e: &&Evaluator| e.object.map(|o| &model.objects[o]);
    let evaluator = a
        .evaluators
        .iter()
        .filter(|e| kind_of(e).is_some_and(|o| o.is("monitoring.coreos.com", "Prometheus")))
        .min_by_key(|e| e.workload.is_some_and(|w| a.per_workload.contains_key(&w)))
        .or_else(|| {
            a.evaluators.iter().find(|e| kind_of(e).is_some_and(|o| o.is("operator.victoriametrics.com", "VMAlert")))
        });
    let vm = evaluator.and_then(|e| kind_of(&e)).is_some_and(|o| o.id.kind == "VMAlert");
    // A job that scrapes a kube-state-metrics before one that gets some kube_* series from cost-model.
    let ksm_jobs = evaluator.into_iter().flat_map(|e| e.jobs.iter().flatten()).filter(|j| j.sources.contains(KSM));
    let ksm_job: Option<&Job> = ksm_jobs.min_by_key(|j| !j.scrapes_ksm());
    let (namespace, labels, job) = match evaluator {
        Some(e) => {
            let p = &model.objects[e.object?];
            let labels: Vec<(String, String)> = string_map(p.node.path(&["spec", "ruleSelector", "matchLabels"]))
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            let job =
                ksm_job.filter(|j| !j.in_secret && !j.any_name).map(|j| format!(r#", job="{}""#, promql_str(&j.name)));
            (p.namespace().to_owned(), labels, job.unwrap_or_default())
        }
        None => {
            let first =
                a.per_workload.keys().next().map(|w| model.objects[model.workloads[*w].object].namespace().to_owned());
            (first.unwrap_or_else(|| "default".into()), Vec::new(), String::new())
        }
    };
    let mut notes = String::new();
    let mut groups = Vec::new();
    for (wi, cov) in &a.per_workload {
        let t = target(model, &model.workloads[*wi]);
        let mut rules = Vec::new();
        for &mode in super::modes_of(model, &model.workloads[*wi]) {
            let uncovered = cov.mode(mode).is_empty();
            if !uncovered {
                continue;
            }
            let Some(al) = alerts_for(&t, mode, &job, ksm_job.and_then(|j| j.interval)) else { continue };
            // A series the job's targets do not emit, or its metric relabelings drop, never reaches the
            // rule: say so where it is read.
            if let Some(j) = ksm_job {
                let name = match (j.in_secret, j.any_name) {
                    (true, _) => "of additionalScrapeConfigs".to_owned(),
                    (false, true) => format!("of {}", j.name),
                    (false, false) => format!("\"{}\"", j.name),
                };
                for m in al.reads.iter().filter(|m| !j.exposes(KSM, m)) {
                    comment(
                        &mut notes,
                        &format!(
                            "{}: job {name} gets kube_* series only from cost-model, which does not emit {m}: \
                             scrape a kube-state-metrics, or this alert cannot fire",
                            al.name
                        ),
                    );
                }
                for m in al.reads.iter().filter(|m| j.exposes(KSM, m) && !j.stores(KSM, m)) {
                    comment(
                        &mut notes,
                        &format!(
                            "{}: job {name} drops {m} (metric relabelings): keep it there, or this alert cannot fire",
                            al.name
                        ),
                    );
                }
            }
            rules.push(map(vec![
                ("alert", text(&al.name)),
                // A literal block, as rule files write expressions: no quote in it is escaped.
                ("expr", text(&format!("{}\n", al.expr))),
                ("for", text(al.for_)),
                ("labels", map(vec![("severity", text("critical")), ("meterguard_mode", text(mode))])),
                (
                    "annotations",
                    map(vec![
                        ("summary", text(&al.summary)),
                        (
                            "description",
                            text(&format!(
                                "meterguard: {} was not covered for {mode}; losing it loses metering data.",
                                t.name
                            )),
                        ),
                        ("runbook_url", text(al.runbook)),
                    ]),
                ),
            ]));
        }
        if !rules.is_empty() {
            groups.push(map(vec![
                ("name", text(&format!("meterguard.{}.{}", t.namespace, t.name))),
                ("rules", Yaml::Sequence(rules)),
            ]));
        }
    }
    if groups.is_empty() {
        return None;
    }
    let mut metadata = vec![("name", text("meterguard-metering-alerts")), ("namespace", text(&namespace))];
    if !labels.is_empty() {
        metadata.push(("labels", map(labels.iter().map(|(k, v)| (k.as_str(), text(v))).collect())));
    }
    let (api, kind) = if vm {
        ("operator.victoriametrics.com/v1beta1", "VMRule")
    } else {
        ("monitoring.coreos.com/v1", "PrometheusRule")
    };
    let rule = map(vec![
        ("apiVersion", text(api)),
        ("kind", text(kind)),
        ("metadata", map(metadata)),
        ("spec", map(vec![("groups", Yaml::Sequence(groups))])),
    ]);
    let mut out =
        String::from("# Generated by `meterguard alerts generate`: alerts for metering workloads no rule covered.\n");
    if evaluator.is_none() {
        for line in plain_prometheus_note(model, a).lines() {
            comment(&mut out, line.trim_start_matches("# "));
        }
    }
    out.push_str(&notes);
    let mut emitter = YamlEmitter::new(&mut out);
    emitter.multiline(true);
    emitter.dump(&rule).ok()?;
    out.push('\n');
    Some(out)
}
