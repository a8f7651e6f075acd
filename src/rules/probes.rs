//! Probes: will the kubelet kill a metering container while it is still starting, or route
//! traffic to it before it can answer?

use crate::model::workload::ProbeSpec;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Context, Finding, Rule, Severity, rule};
use crate::input::Node;
use crate::knowledge::Profile;
use crate::model::references::services_selecting;
use crate::model::{ContainerInfo, ContainerRole, ContainerSpec, Workload};

rule!(
    READINESS_MISSING,
    "probes/readiness-missing",
    Warning,
    "a Service routes to a container with no readiness probe",
    "Without a readiness probe a pod counts as ready as soon as its containers start, so its Service sends \
     queries to a Prometheus still replaying its write-ahead log, or to a cost model still loading, and clients \
     record errors or gaps. Add a readinessProbe on the endpoint that answers once the workload can serve."
);
rule!(
    LIVENESS_KILLS_STARTUP,
    "probes/liveness-kills-startup",
    Error,
    "the liveness probe kills the container before it can finish starting",
    "The liveness probe checks an endpoint that fails until startup completes (for Prometheus, /-/ready fails \
     until the write-ahead log is replayed; a liveness probe identical to the readiness probe does the same), \
     there is no startup probe, and the probe's budget (initialDelaySeconds + failureThreshold x periodSeconds) \
     is shorter than the profile's worst-case start. Each restart begins the replay again, so the container can \
     never finish starting. Add a startupProbe on the readiness endpoint with a budget above the worst-case start \
     (prometheus-operator uses 15 minutes), and point liveness at an endpoint that answers while starting."
);
rule!(
    LIVENESS_DURING_STARTUP,
    "probes/liveness-during-startup",
    Warning,
    "a liveness probe runs during a long startup with no startup probe",
    "With no startup probe the liveness probe runs from the first seconds. Its budget is shorter than the \
     profile's worst-case start, so a stall while starting (CPU throttling, garbage collection near the memory \
     limit, a probe timeout) restarts the container and the start (for Prometheus, the WAL replay) begins \
     again. Prometheus's /-/healthy answers during replay, so this is a warning there. Add a startupProbe on the \
     readiness endpoint (/-/ready) with a long budget, e.g. periodSeconds 15 x failureThreshold 60."
);
rule!(
    PORT_UNDECLARED,
    "probes/port-undeclared",
    Error,
    "a probe targets a port the container does not declare",
    "A probe on a named port that the container does not declare always fails. A probe on a number that belongs \
     to another container of the pod ties this container's health to that one: when the other container is \
     slow or down, this one is restarted too (Kubecost's frontend probes the cost model's port 9003). Probe a \
     port the container itself serves, and declare it. A number that no container declares still reaches the \
     process, so that case is a warning: the declaration is missing, not the probe."
);
rule!(
    IDENTICAL_LIVENESS_READINESS,
    "probes/identical-liveness-readiness",
    Info,
    "liveness and readiness probes are identical",
    "A liveness probe identical to the readiness probe restarts a container that is merely busy or not yet ready, \
     instead of only taking it out of the Service. kube-score warns about this too. Point liveness at a cheaper \
     endpoint that answers whenever the process is not stuck, with a longer budget."
);

pub static RULES: &[&Rule] = &[
    &READINESS_MISSING,
    &LIVENESS_KILLS_STARTUP,
    &LIVENESS_DURING_STARTUP,
    &PORT_UNDECLARED,
    &IDENTICAL_LIVENESS_READINESS,
];

/// The longest a probe can keep failing before the kubelet acts: a probe that hangs counts its
/// timeout, since a probe worker runs its probes one after another.
pub fn budget(p: &ProbeSpec) -> f64 {
    let delay = p.initial_delay_seconds.unwrap_or(0) as f64;
    let period = p.period_seconds.unwrap_or(10) as f64;
    let timeout = p.timeout_seconds.unwrap_or(1) as f64;
    let failures = p.failure_threshold.unwrap_or(3) as f64;
    delay + failures * period.max(timeout)
}

fn budget_text(p: &ProbeSpec) -> String {
    format!(
        "initialDelaySeconds {} + failureThreshold {} x max(periodSeconds {}, timeoutSeconds {}) = {}s",
        p.initial_delay_seconds.unwrap_or(0),
        p.failure_threshold.unwrap_or(3),
        p.period_seconds.unwrap_or(10),
        p.timeout_seconds.unwrap_or(1),
        budget(p)
    )
}

fn path_of(p: &ProbeSpec) -> Option<&str> {
    p.http_get.as_ref().and_then(|h| h.path.as_deref())
}

pub fn check(ctx: &Context<'_, '_>, out: &mut Vec<Finding>) {
    for (w, class, profile) in ctx.metering() {
        if w.operated.is_some() {
            continue;
        }
        for c in w.containers.iter().filter(|c| c.role != ContainerRole::Init) {
            check_ports(ctx, w, c, out);
            if let (Some(l), Some(r)) = (c.node.get("livenessProbe"), c.node.get("readinessProbe"))
                && l.to_json() == r.to_json()
            {
                let at = c.node.entry("livenessProbe").map(|e| e.key.span()).unwrap_or(l.span());
                out.push(ctx.finding(&IDENTICAL_LIVENESS_READINESS, w, Some(c), at,
                        format!("container {}: livenessProbe is identical to readinessProbe", c.name),
                        "point liveness at an endpoint that answers while the process is alive but busy, with a longer budget".into()));
            }
            if class.primary.as_deref() == Some(c.name.as_str()) {
                check_startup(ctx, w, c, profile, out);
            }
        }
        check_readiness(ctx, w, out);
    }
}

fn check_startup(
    ctx: &Context<'_, '_>,
    w: &Workload<'_>,
    c: &ContainerInfo<'_>,
    profile: &Profile,
    out: &mut Vec<Finding>,
) {
    let Some(worst) = profile.worst_case_start_seconds else { return };
    if c.spec.startup_probe.is_some() {
        return;
    }
    let Some(live) = &c.spec.liveness_probe else { return };
    let b = budget(live);
    if b >= worst {
        return;
    }
    let at = c.node.entry("livenessProbe").map(|e| e.key.span()).unwrap_or(c.node.span());
    let path = path_of(live);
    let gated = path.is_some_and(|p| profile.startup_gated_paths.iter().any(|g| g == p))
        || c.node.get("livenessProbe").map(Node::to_json) == c.node.get("readinessProbe").map(Node::to_json);
    let source = profile.start_source.as_deref().unwrap_or("the profile");
    let ready = profile.startup_gated_paths.first().map(String::as_str).unwrap_or("the readiness endpoint");
    if gated {
        out.push(ctx.finding(&LIVENESS_KILLS_STARTUP, w, Some(c), at,
            format!("container {}: liveness probe on {} fails until startup completes, and kills the container after {}s, before the worst-case start of {worst}s", c.name, path.unwrap_or("the readiness endpoint"), b),
            format!("Budget: {}. Worst-case start: {worst}s ({source}). Add a startupProbe on {ready} with periodSeconds 15 and failureThreshold {}, and point liveness at an endpoint that answers while starting.", budget_text(live), (worst / 15.0).ceil())));
    } else {
        out.push(ctx.finding(&LIVENESS_DURING_STARTUP, w, Some(c), at,
            format!("container {}: no startup probe, and the liveness probe's {}s budget is shorter than the worst-case start of {worst}s", c.name, b),
            format!("A stall while starting restarts the container and the start begins again. Budget: {}. Worst-case start: {worst}s ({source}). Add a startupProbe on {ready} with periodSeconds 15 and failureThreshold {}.", budget_text(live), (worst / 15.0).ceil())));
    }
}

fn declares(c: &ContainerSpec, port: &IntOrString) -> bool {
    c.ports.iter().flatten().any(|p| match port {
        IntOrString::Int(n) => p.container_port == *n,
        IntOrString::String(s) => p.name.as_deref() == Some(s.as_str()),
    })
}

fn port_text(p: &IntOrString) -> String {
    match p {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

fn check_ports(ctx: &Context<'_, '_>, w: &Workload<'_>, c: &ContainerInfo<'_>, out: &mut Vec<Finding>) {
    for key in ["livenessProbe", "readinessProbe", "startupProbe"] {
        let Some(probe_node) = c.node.get(key) else { continue };
        let probe: Option<&ProbeSpec> = match key {
            "livenessProbe" => c.spec.liveness_probe.as_ref(),
            "readinessProbe" => c.spec.readiness_probe.as_ref(),
            _ => c.spec.startup_probe.as_ref(),
        };
        let Some(probe) = probe else { continue };
        let (port, handler) = if let Some(h) = &probe.http_get {
            (h.port.clone(), "httpGet")
        } else if let Some(port) = &probe.tcp_socket {
            (port.clone(), "tcpSocket")
        } else if let Some(port) = probe.grpc {
            (IntOrString::Int(port), "grpc")
        } else {
            continue;
        };
        if declares(&c.spec, &port) {
            continue;
        }
        let at = probe_node.path(&[handler, "port"]).map(|n| n.span()).unwrap_or(probe_node.span());
        let owner = w.containers.iter().find(|o| o.name != c.name && declares(&o.spec, &port));
        let p = port_text(&port);
        let (message, help, severity) = match (owner, &port) {
            (Some(o), _) => (
                format!("container {}: {key} probes port {p}, which belongs to container {}", c.name, o.name),
                format!(
                    "when {} is slow or down, the kubelet restarts {} too; probe a port that {} serves itself",
                    o.name, c.name, c.name
                ),
                PORT_UNDECLARED.severity,
            ),
            (None, IntOrString::String(_)) => (
                format!("container {}: {key} probes the named port {p}, which no container declares", c.name),
                "the kubelet cannot resolve the name, so the probe always fails; declare the port or use its number"
                    .into(),
                PORT_UNDECLARED.severity,
            ),
            (None, IntOrString::Int(_)) => (
                format!("container {}: {key} probes port {p}, which the container does not declare", c.name),
                format!(
                    "declare containerPort {p} on {} (or probe the port it serves), so the probe and the ports stay in step",
                    c.name
                ),
                // The number still reaches the process: the declaration is what is missing, not
                // the probe.
                Severity::Warning,
            ),
        };
        out.push(ctx.finding(&PORT_UNDECLARED, w, Some(c), at, message, help).with_severity(severity));
    }
}

fn check_readiness(ctx: &Context<'_, '_>, w: &Workload<'_>, out: &mut Vec<Finding>) {
    let services = services_selecting(ctx.model, w);
    let Some(svc) = services.first() else { return };
    let main: Vec<&ContainerInfo> = w.containers.iter().filter(|c| c.role == ContainerRole::Main).collect();
    let targets: Vec<IntOrString> = services
        .iter()
        .flat_map(|s| s.node.path(&["spec", "ports"]).and_then(Node::as_seq).unwrap_or_default())
        .filter_map(|p| {
            let t = p.get("targetPort").or_else(|| p.get("port"))?;
            let text = t.as_str()?;
            Some(match text.parse::<i32>() {
                Ok(n) => IntOrString::Int(n),
                Err(_) => IntOrString::String(text.to_owned()),
            })
        })
        .collect();
    let serving: Vec<&&ContainerInfo> = main.iter().filter(|c| targets.iter().any(|t| declares(&c.spec, t))).collect();
    let candidates: Vec<&ContainerInfo> = if serving.is_empty() {
        if main.iter().any(|c| c.spec.readiness_probe.is_some()) {
            Vec::new()
        } else {
            main.first().copied().into_iter().collect()
        }
    } else {
        serving.into_iter().copied().collect()
    };
    for c in candidates.into_iter().filter(|c| c.spec.readiness_probe.is_none()) {
        let at = c.node.entry("name").map(|e| e.key.span()).unwrap_or(c.node.span());
        out.push(ctx.finding(
            &READINESS_MISSING,
            w,
            Some(c),
            at,
            format!("container {} has no readiness probe, and Service {} routes traffic to it", c.name, svc.id.name),
            "add a readinessProbe on the endpoint that answers once the container can serve".into(),
        ));
    }
}
