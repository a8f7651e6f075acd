//! `meterguard alerts generate`: a PrometheusRule that covers every uncovered metering workload
//! for every failure mode, labelled for the Prometheus that would select it.

use std::fmt::Write;

use super::evaluators::Evaluator;
use super::jobs::{Job, KSM};
use super::{Analysis, MODES, Target, target};
use crate::model::{Model, string_map};

/// The pod names a workload's controller creates, as an anchored regular expression.
fn pod_regex(t: &Target) -> String {
    // Kubernetes names hold only [a-z0-9.-]; a dot is the one regex character, escaped for a PromQL string.
    let n = t.name.replace('.', "\\\\.");
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
    let ns = &t.namespace;
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
                            regex::escape(&t.name)
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
                            r#"kube_pod_status_ready{{condition="true", namespace="{ns}", pod="{}"{job}}} == 0"#,
                            t.name
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
                expr: format!(r#"{metric}{{namespace="{ns}", {label}="{}"{job}}} {cmp}"#, t.name),
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

/// YAML text of the PrometheusRule, or None when everything is covered.
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
            let job = ksm_job.filter(|j| !j.in_secret && !j.any_name).map(|j| format!(r#", job="{}""#, j.name));
            (p.namespace().to_owned(), labels, job.unwrap_or_default())
        }
        None => {
            let first =
                a.per_workload.keys().next().map(|w| model.objects[model.workloads[*w].object].namespace().to_owned());
            (first.unwrap_or_else(|| "default".into()), Vec::new(), String::new())
        }
    };
    let mut groups = String::new();
    for (wi, cov) in &a.per_workload {
        let t = target(model, &model.workloads[*wi]);
        let mut rules = String::new();
        for mode in MODES {
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
                    let _ = writeln!(
                        rules,
                        "        # job {name} gets kube_* series only from cost-model, which does not emit {m}: \
                         scrape a kube-state-metrics, or this alert cannot fire"
                    );
                }
                for m in al.reads.iter().filter(|m| j.exposes(KSM, m) && !j.stores(KSM, m)) {
                    let _ = writeln!(
                        rules,
                        "        # job {name} drops {m} (metric relabelings): keep it there, or this alert cannot fire"
                    );
                }
            }
            let _ = write!(
                rules,
                "        - alert: {}\n          expr: >-\n            {}\n          for: {}\n          labels:\n            severity: critical\n            meterguard.io/mode: {mode}\n          annotations:\n            summary: \"{}\"\n            description: \"meterguard: {} was not covered for {mode}; losing it loses metering data.\"\n            runbook_url: {}\n",
                al.name, al.expr, al.for_, al.summary, t.name, al.runbook
            );
        }
        if !rules.is_empty() {
            let _ = write!(groups, "    - name: meterguard.{}.{}\n      rules:\n{rules}", t.namespace, t.name);
        }
    }
    if groups.is_empty() {
        return None;
    }
    let mut out =
        String::from("# Generated by `meterguard alerts generate`: alerts for metering workloads no rule covered.\n");
    if evaluator.is_none() {
        out.push_str(&plain_prometheus_note(model, a));
    }
    out.push_str(if vm {
        "apiVersion: operator.victoriametrics.com/v1beta1\nkind: VMRule\nmetadata:\n  name: meterguard-metering-alerts\n"
    } else {
        "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: meterguard-metering-alerts\n"
    });
    let _ = writeln!(out, "  namespace: {namespace}");
    if !labels.is_empty() {
        out.push_str("  labels:\n");
        for (k, v) in labels {
            let _ = writeln!(out, "    {k}: \"{v}\"");
        }
    }
    out.push_str("spec:\n  groups:\n");
    out.push_str(&groups);
    Some(out)
}
