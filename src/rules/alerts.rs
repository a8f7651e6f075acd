//! Alert coverage rules: would anyone be paged if a metering workload died, crash-looped or was
//! OOM-killed? The analysis itself lives in `crate::coverage`.

use compact_str::CompactString;
use foldhash::{HashMap, HashMapExt};

use super::{Context, Finding, Rule, Severity, rule};
use crate::coverage::alike::Alike;
use crate::coverage::evaluators::{Evaluator, Notify};
use crate::coverage::jobs::JobIndex;
use crate::coverage::{self, Analysis};

rule!(
    DOWN_UNCOVERED,
    "alerts/down-uncovered",
    Error,
    "no alert fires when a metering workload is down",
    "No alert rule that an evaluator in the input (or the config's alerting.external) loads would fire when \
     this workload has no ready replica or its target is down. The incident's Prometheus was down for three \
     days before anyone noticed. Add an alert on kube_deployment_status_replicas_available (or the StatefulSet \
     and DaemonSet equivalents), loaded by a Prometheus other than the one watched; `meterguard alerts \
     generate` writes one. Error for profiles marked critical, warning otherwise. A range too short \
     for the job's scrape interval covers nothing (see alerts/crashloop-uncovered)."
);
rule!(
    CRASHLOOP_UNCOVERED,
    "alerts/crashloop-uncovered",
    Error,
    "no alert fires when a metering workload crash-loops",
    "A crash-looping pod keeps phase Running, so alerts on kube_pod_status_phase never see it, and a \
     one-replica Deployment with maxUnavailable 1 keeps its Available condition True. Alert on \
     kube_pod_container_status_waiting_reason{reason=\"CrashLoopBackOff\"} (kubernetes-mixin's \
     KubePodCrashLooping) with matchers that admit this workload, on an evaluator that scrapes \
     kube-state-metrics under the job the rule names. \
     A rule whose range is too short for the samples its function needs at the job's scrape interval \
     (increase(...[1m]) scraped every minute never holds two; a range that holds them only part of each \
     interval cannot last the alert's `for`) covers nothing, and the finding names it as the nearest miss."
);
rule!(
    OOM_UNCOVERED,
    "alerts/oom-uncovered",
    Error,
    "no alert fires when a metering workload is OOM-killed",
    "Neither kube-prometheus-stack nor kubernetes-mixin ships an OOM alert. Alert on \
     kube_pod_container_status_last_terminated_reason{reason=\"OOMKilled\"} with restarts, \
     container_oom_events_total, or container_memory_working_set_bytes near the limit. A range too short \
     for the job's scrape interval covers nothing (see alerts/crashloop-uncovered)."
);
rule!(
    SELF_MONITORED,
    "alerts/self-monitored",
    Error,
    "a Prometheus is the only one that would report its own death",
    "The only rules that cover this Prometheus being down are evaluated by the same Prometheus: when it dies, \
     they die with it. Load a down alert for it on another Prometheus, or route an always-firing Watchdog \
     alert to a dead man's switch receiver."
);
rule!(
    RULE_NOT_SELECTED,
    "alerts/rule-not-selected",
    Error,
    "no Prometheus, ThanosRuler or VMAlert in the input selects this PrometheusRule (or VMRule)",
    "prometheus-operator loads a PrometheusRule only when its labels match the ruleSelector of a Prometheus \
     (or ThanosRuler) and its namespace matches ruleNamespaceSelector; kube-prometheus-stack selects \
     `release: <release>`. The VictoriaMetrics operator loads a VMRule, and a PrometheusRule it converts, \
     into a VMAlert by its ruleSelector and ruleNamespaceSelector (with neither, all rules when \
     selectAllByDefault, else none). An unselected rule never runs. Add the labels named in the message."
);
rule!(
    JOB_MISMATCH,
    "alerts/job-mismatch",
    Error,
    "a rule filters on a job its evaluator never scrapes",
    "The rule's selector requires a `job` label value that none of its evaluator's scrape jobs carries (for \
     example kube-prometheus-stack rules with job=\"kube-state-metrics\" on a Prometheus that scrapes \
     kube-state-metrics as kubernetes-service-endpoints), so it matches nothing and never fires. Only \
     selectors the expression needs are judged: one side of an `or`, the right side of `unless` and the \
     argument of `absent()` may find nothing. A prometheus-operator Prometheus's jobs come from the \
     ServiceMonitors, PodMonitors, ScrapeConfigs and Probes it selects, and from the Secret its \
     additionalScrapeConfigs names (read, never shown); when that Secret is not in the input it may \
     scrape any job, and is not judged. A VMAlert's jobs are those of the VMAgents that write to the \
     VMSingle it queries (their VMServiceScrapes, VMPodScrapes, VMNodeScrapes, and the monitors the \
     operator converts), of the components the operator scrapes itself, and of the Prometheus servers \
     with a config of their own that write there; they are not judged when an operator's Prometheus \
     or PrometheusAgent writes there, a server relabels what it writes, or a scrape object not read \
     here feeds it. A job is named as the operator names \
     it (the Service, or `<namespace>/<PodMonitor>`, then the target's `jobLabel` label), and as the \
     relabelings that write `job` rename it; one they write from what the input does not tell (a \
     port's name, an address) may have any name. The finding's help names the scrape jobs named like \
     the wanted one (one that holds it, as a release's prefix makes `kps-kube-state-metrics`, or one a \
     few edits away), else all of them when they are few. Fix the matcher or the scrape job's name."
);
rule!(
    NO_NOTIFICATION_ROUTE,
    "alerts/no-notification-route",
    Warning,
    "alerts about metering workloads reach no receiver",
    "The alerts that cover a metering workload are evaluated by a Prometheus with no Alertmanager, or routed by \
     the Alertmanager config to receivers with no integrations (kube-prometheus-stack's default `null`, \
     victoria-metrics-k8s-stack's `blackhole`, the VictoriaMetrics operator's own config for a \
     VMAlertmanager given none). They fire, and nobody is told. Route them to a receiver with a Slack, PagerDuty, email or webhook config."
);
rule!(
    PROMQL_INVALID,
    "alerts/promql-invalid",
    Error,
    "an alert expression is not valid PromQL",
    "Prometheus rejects the whole rule file (prometheus-operator rejects the PrometheusRule), so none of its \
     alerts run. Fix the expression; `promtool check rules` agrees."
);
rule!(
    PROMQL_TOO_LARGE,
    "input/promql-too-large",
    Error,
    "an alert expression too large for meterguard to read",
    "An expression nested past 64 brackets, with more than 400 operators, or with a regular expression that may \
     compile past 10 MiB (`\\w{300}`) is not read: each costs stack or seconds that a pull request could multiply \
     (docs/hostile.md). Prometheus may load it, but meterguard cannot judge what it covers, so the run fails \
     closed (exit 2); the other rules and documents are still checked. Split the expression or simplify the pattern."
);
rule!(
    EVALUATOR_UNKNOWN,
    "alerts/evaluator-unknown",
    Info,
    "alert rules whose evaluator is not in the input",
    "No Prometheus in the input loads these rules, so meterguard assumes they are loaded by one outside it and \
     that it scrapes what they need. Declare it in the config (alerting.external) to have its selectors and \
     jobs checked, or pass --assume-rules-loaded to silence this."
);

rule!(
    NO_EVALUATOR,
    "alerts/no-evaluator",
    Error,
    "no alert evaluator in the input, so no metering workload's alert coverage can be judged",
    "Coverage asks whether an alert would fire, and reach someone, when a metering workload dies, crash-loops or \
     is OOM-killed. That needs the Prometheus (or ThanosRuler, or VMAlert) that evaluates the alert rules. A \
     vendor's chart checked alone has none: rather than one error per workload and failure mode, this one \
     finding lists the workloads whose coverage is unknown. Check the monitoring stack's render together with \
     this one (`meterguard check app.yaml monitoring.yaml`), or declare the evaluator under `alerting.external` \
     in .meterguard.yaml; set this rule's severity there if an unknown coverage is acceptable."
);

pub static RULES: &[&Rule] = &[
    &NO_EVALUATOR,
    &PROMQL_TOO_LARGE,
    &DOWN_UNCOVERED,
    &CRASHLOOP_UNCOVERED,
    &OOM_UNCOVERED,
    &SELF_MONITORED,
    &RULE_NOT_SELECTED,
    &JOB_MISMATCH,
    &NO_NOTIFICATION_ROUTE,
    &PROMQL_INVALID,
    &EVALUATOR_UNKNOWN,
];

/// A finding at an alert rule's expression, on the object that holds it.
pub(super) fn rule_finding(
    rule: &'static Rule,
    r: &coverage::rules::AlertRule,
    message: String,
    help: std::sync::Arc<str>,
) -> Finding {
    Finding {
        rule: rule.id,
        severity: rule.severity,
        message,
        help,
        object: r.object.clone(),
        container: None,
        source: Some(r.source),
        file: String::new(),
        span: r.span,
        template: r.template.clone(),
        suppressed: None,
    }
}

fn object_finding(ctx: &Context<'_, '_>, rule: &'static Rule, object: usize, message: String, help: String) -> Finding {
    let o = &ctx.model.objects[object];
    let span = o
        .node
        .path(&["metadata", "labels"])
        .map(|n| n.span())
        .or_else(|| o.node.path(&["metadata", "name"]).map(|n| n.span()))
        .unwrap_or(o.node.span());
    Finding::on_object(rule, o, span, message, help)
}

pub fn check(ctx: &Context<'_, '_>, a: &Analysis, out: &mut Vec<Finding>) {
    for r in &a.rules {
        if let Err(e) = &r.parsed
            && coverage::promql::refused(e)
        {
            let message = format!("alert {}: not read: {}", r.alert, e.lines().next().unwrap_or(e));
            out.push(rule_finding(
                &PROMQL_TOO_LARGE,
                r,
                message,
                "split the expression or simplify the pattern".into(),
            ));
            continue;
        }
        // A VMRule holds MetricsQL, a superset of PromQL: what promql-parser cannot read may be
        // valid there, and is only left unjudged.
        if let Err(e) = &r.parsed
            && !r.object.as_deref().is_some_and(coverage::rules::is_vm_rule)
        {
            out.push(rule_finding(
                &PROMQL_INVALID,
                r,
                format!("alert {}: invalid PromQL: {}", r.alert, e.lines().next().unwrap_or(e)),
                "fix the expression; Prometheus rejects the whole rule file".into(),
            ));
        }
    }
    if a.evaluators.is_empty()
        && let Some((&first, _)) = a.per_workload.iter().next()
    {
        let names: Vec<String> =
            a.per_workload.keys().map(|&wi| ctx.model.objects[ctx.model.workloads[wi].object].id.display()).collect();
        let shown = names.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
        let more = if names.len() > 5 { format!(" and {} more", names.len() - 5) } else { String::new() };
        let w = &ctx.model.workloads[first];
        out.push(
            ctx.finding(
                &NO_EVALUATOR,
                w,
                None,
                coverage::workload_span(ctx.model, w),
                format!(
                    "no Prometheus, ThanosRuler or VMAlert in the input, and none declared: whether an alert fires for \
                 the {} metering workload{} ({shown}{more}) cannot be judged",
                    names.len(),
                    if names.len() == 1 { "" } else { "s" }
                ),
                "check the monitoring stack's render together with this one, or declare its Prometheus under \
             alerting.external in .meterguard.yaml"
                    .into(),
            ),
        );
    }
    for (wi, cov) in &a.per_workload {
        if cov.unknown {
            continue;
        }
        let w = &ctx.model.workloads[*wi];
        let profile = ctx.classes[*wi].profile.as_deref().and_then(|p| ctx.profiles.get(p));
        let severity = if profile.is_some_and(|p| p.critical) { Severity::Error } else { Severity::Warning };
        let name = ctx.model.objects[w.object].id.display();
        let span = coverage::workload_span(ctx.model, w);
        let own = a.self_monitored.get(wi);
        if let Some(own) = own {
            let modes: Vec<&str> = own.keys().copied().collect();
            let mut alerts: Vec<&str> = own.values().flatten().map(|i| i.alert.as_str()).collect();
            alerts.sort();
            alerts.dedup();
            out.push(ctx.finding(
                &SELF_MONITORED,
                w,
                None,
                span,
                format!(
                    "{name} failing ({}) is covered only by rules {} ({})",
                    modes.join(", "),
                    if w.operated == Some(crate::model::Operated::VmSingle) {
                        "a VMAlert evaluates on its own data"
                    } else {
                        "it evaluates itself"
                    },
                    alerts.join(", ")
                ),
                "load alerts for it on another Prometheus, or route a Watchdog alert to a dead man's switch".into(),
            ));
        }
        let applies = coverage::modes_of(ctx.model, w);
        for (mode, rule, what) in [
            ("down", &DOWN_UNCOVERED, "is down (no ready replica)"),
            ("crashloop", &CRASHLOOP_UNCOVERED, "crash-loops"),
            ("oom", &OOM_UNCOVERED, "is OOM-killed"),
        ] {
            if !applies.contains(&mode) || !cov.mode(mode).is_empty() || own.is_some_and(|o| o.contains_key(mode)) {
                continue;
            }
            let generate = "`meterguard alerts generate` writes a PrometheusRule that covers it; load it on a Prometheus \
                            that scrapes kube-state-metrics and routes to a real receiver";
            let help = match a.near_misses.get(wi).and_then(|m| m.get(mode)) {
                Some(near) => format!("nearest: {near}. {generate}"),
                None => generate.to_owned(),
            };
            out.push(
                ctx.finding(rule, w, None, span, format!("no alert fires when {name} {what}"), help)
                    .with_severity(severity),
            );
        }
    }
    let present = |group: &str, kind: &str| {
        a.evaluators.iter().filter_map(|e| e.object).any(|o| ctx.model.objects[o].is(group, kind))
    };
    let (thanos, vmalert) =
        (present("monitoring.coreos.com", "ThanosRuler"), present("operator.victoriametrics.com", "VMAlert"));
    for (object, lacks) in &a.unselected {
        let o = &ctx.model.objects[*object];
        let (selectors, whose) = match (o.id.kind.as_str(), thanos, vmalert) {
            ("VMRule", _, _) => ("VMAlert", "a VMAlert's ruleSelector"),
            (_, false, false) => ("Prometheus", "the Prometheus's ruleSelector"),
            (_, true, false) => ("Prometheus or ThanosRuler", "a ruleSelector"),
            (_, false, true) => ("Prometheus or VMAlert", "a ruleSelector"),
            (_, true, true) => ("Prometheus, ThanosRuler or VMAlert", "a ruleSelector"),
        };
        let lacks = if lacks.is_empty() {
            "a namespace the ruleNamespaceSelector accepts".to_owned()
        } else {
            lacks.join(", ")
        };
        out.push(object_finding(
            ctx,
            &RULE_NOT_SELECTED,
            *object,
            format!("{} {} is selected by no {selectors} in the input; it lacks {lacks}", o.id.kind, o.id.name),
            format!("add the labels ({lacks}) so {whose} picks it up"),
        ));
    }
    for (eval_id, affected) in coverage::unrouted(ctx.model, a) {
        let Some(e) = a.evaluators.iter().find(|e| e.id == eval_id) else { continue };
        // One entry per workload, with its failure modes: `opencost (crashloop, down)`.
        let affected: Vec<(usize, &str)> = affected.into_iter().collect();
        let what: Vec<String> = affected
            .chunk_by(|a, b| a.0 == b.0)
            .map(|modes| {
                let name = &ctx.model.objects[ctx.model.workloads[modes[0].0].object].id.name;
                format!("{name} ({})", modes.iter().map(|(_, m)| *m).collect::<Vec<_>>().join(", "))
            })
            .collect();
        let (object, why) = match &e.notify {
            Notify::Config(configs) => (
                configs.first().map(|c| c.object),
                if configs.len() > 1 { "its Alertmanagers route" } else { "its Alertmanager routes" }.to_owned()
                    + " them only to receivers with no integrations",
            ),
            Notify::Nowhere(why) => (e.object, why.clone()),
            Notify::Assumed => continue,
        };
        let Some(object) = object else { continue };
        out.push(object_finding(
            ctx,
            &NO_NOTIFICATION_ROUTE,
            object,
            format!("alerts evaluated by {eval_id} about {} reach nobody: {why}", what.join(", ")),
            "route them to a receiver with a Slack, PagerDuty, email or webhook config".into(),
        ));
    }
    if a.unknown_loaded
        && let Some(r) =
            a.evaluators.iter().filter(|e| e.object.is_none() && e.jobs.is_none()).flat_map(|e| e.rules.iter()).next()
    {
        let r = &a.rules[*r];
        out.push(rule_finding(
            &EVALUATOR_UNKNOWN,
            r,
            "alert rules in the input are evaluated by no Prometheus in it; they are assumed to be loaded".into(),
            "declare the evaluator in .meterguard.yaml (alerting.external), or pass --assume-rules-loaded".into(),
        ));
    }
    // Last: a large render's bulk (one for each of thousands of rules), appended into room made
    // for it, which no later push then doubles.
    for e in a.evaluators.iter().filter(|e| e.jobs.is_some()) {
        job_mismatches(a, e, out);
    }
}

/// `JOB_MISMATCH` for the rules `e` loads, judged on all cores (`Evaluator::judge_rules`).
fn job_mismatches(a: &Analysis, e: &Evaluator, out: &mut Vec<Finding>) {
    let Some(jobs) = e.jobs.as_deref() else { return };
    // Judged on all cores into (rule, message, wanted job), a third of a finding's size: the
    // findings are made from them in room of the exact size, so the two are not both held whole.
    let mut found = Vec::new();
    e.judge_rules(&mut found, |ri, index| {
        let index = index?;
        let r = &a.rules[ri];
        let Ok(expr) = &r.parsed else { return None };
        // A selector inside `absent()` is meant to find nothing, and one that cannot match only
        // matters when the expression needs it: `up{job="a"} or up{job="b"}` still fires for `a`,
        // and the right side of `unless` never has to match.
        let admitted: Vec<bool> = expr
            .selectors
            .iter()
            .map(|s| s.in_absent || !s.constrains("job") || !index.admitted(s).is_empty())
            .collect();
        if expr.feasible_given(&|i| admitted[i]) {
            return None;
        }
        let (s, _) = expr.selectors.iter().zip(&admitted).find(|(_, ok)| !**ok)?;
        let wanted: Vec<&str> = s.matchers.iter().filter(|m| m.name == "job").map(|m| m.value.as_str()).collect();
        let message =
            format!("alert {} on {} selects job {}, which {} never scrapes", r.alert, e.id, wanted.join("|"), e.id);
        Some((ri, message, CompactString::from(wanted.first().copied().unwrap_or_default())))
    });
    // The help, once per wanted job: every rule that wants one job names the same jobs,
    // and a large render holds tens of thousands of such rules.
    let index = JobIndex::new(jobs);
    let alike = Alike::new(&index.shown);
    let mut helps: HashMap<CompactString, std::sync::Arc<str>> = HashMap::new();
    out.reserve_exact(found.len());
    for (ri, message, wanted) in found {
        let help = helps.entry(wanted).or_insert_with_key(|w| jobs_help(w, &index, &alike).into()).clone();
        out.push(rule_finding(&JOB_MISMATCH, &a.rules[ri], message, help));
    }
}

/// The scrape jobs to name in the help: those named like the wanted one (`Alike::near`), else all
/// of a few, else the first few by name, which still show how its jobs are named.
fn jobs_help(wanted: &str, index: &JobIndex<'_>, alike: &Alike<'_>) -> String {
    const SHOWN: usize = 8;
    // kube-prometheus-stack's Prometheus scrapes 12 to 14 jobs, all worth seeing.
    const ALL_SHOWN: usize = 16;
    let secret = match index.jobs.len() - index.shown.len() {
        0 => String::new(),
        n => format!(" ({n} more from additionalScrapeConfigs, not named: a Secret's values are not shown)"),
    };
    let count = index.shown.len();
    let near = alike.near(wanted, SHOWN);
    if !near.is_empty() {
        return format!("of its {count} scrape jobs, these are named like it: {}{secret}", near.join(", "));
    }
    if count <= ALL_SHOWN {
        return format!("its scrape jobs are: {}{secret}", index.shown.join(", "));
    }
    let first = index.shown[..SHOWN].join(", ");
    format!("none of its {count} scrape jobs is named like it; the first by name: {first}{secret}")
}
